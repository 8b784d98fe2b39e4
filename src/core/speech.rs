//! Text prepared for speech: Markdown, code and URLs tidied so they are not read out literally.
