//! The speech queue: utterances that play go one at a time, in the order they were asked for.
//! A call holds the speaker from its first player job until it ends (answered and played, or
//! cancelled); the calls behind it wait, at most `max` of them. Pure: calls in, calls out.

use super::CallId;
use std::collections::VecDeque;

/// What a call asking for the speaker gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// It holds the speaker: play now.
    Now,
    /// It waits behind these many calls (the holder included).
    Wait(usize),
    /// The queue is full.
    Full,
}

/// The speaker and the calls waiting for it.
#[derive(Debug)]
pub(crate) struct Speaker {
    max: usize,
    holder: Option<CallId>,
    waiting: VecDeque<CallId>,
}

impl Speaker {
    /// A free speaker with room for `max` waiting calls.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            holder: None,
            waiting: VecDeque::new(),
        }
    }

    /// `call` asks to play (again: a holder asking keeps it).
    pub(crate) fn ask(&mut self, call: CallId) -> Turn {
        if self.holder == Some(call) {
            return Turn::Now;
        }
        if let Some(at) = self.waiting.iter().position(|c| *c == call) {
            return Turn::Wait(at + 1);
        }
        if self.holder.is_none() {
            self.holder = Some(call);
            return Turn::Now;
        }
        if self.waiting.len() >= self.max {
            return Turn::Full;
        }
        self.waiting.push_back(call);
        Turn::Wait(self.waiting.len())
    }

    /// `call` ended: it no longer holds or waits for the speaker. Returns the call whose turn it
    /// now is, if the speaker passed on.
    pub(crate) fn leave(&mut self, call: CallId) -> Option<CallId> {
        if self.holder == Some(call) {
            self.holder = self.waiting.pop_front();
            return self.holder;
        }
        self.waiting.retain(|c| *c != call);
        None
    }

    /// `stop_speaking`: the holder and every waiting call, in order; the speaker is free.
    pub(crate) fn clear(&mut self) -> Vec<CallId> {
        self.holder
            .take()
            .into_iter()
            .chain(self.waiting.drain(..))
            .collect()
    }

    /// The call playing (or about to), and how many wait.
    pub(crate) fn state(&self) -> (Option<CallId>, usize) {
        (self.holder, self.waiting.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Ask(u64),
        Leave(u64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..8).prop_map(Op::Ask),
            (0u64..8).prop_map(Op::Leave),
            Just(Op::Clear),
        ]
    }

    proptest! {
        /// One holder at most; turns go in the order asked; the queue never passes its bound;
        /// nobody holds or waits twice.
        #[test]
        fn one_at_a_time_in_order(max in 0usize..4, ops in proptest::collection::vec(op(), 0..80)) {
            let mut s = Speaker::new(max);
            // The order calls were let in (holder first, then waiting).
            let mut model: VecDeque<CallId> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Ask(c) => {
                        let c = CallId(c);
                        let turn = s.ask(c);
                        match turn {
                            Turn::Now => {
                                if !model.contains(&c) { model.push_back(c); }
                                prop_assert_eq!(model.front(), Some(&c));
                            }
                            Turn::Wait(n) => {
                                if !model.contains(&c) { model.push_back(c); }
                                prop_assert_eq!(model.iter().position(|x| *x == c), Some(n));
                            }
                            Turn::Full => {
                                prop_assert!(!model.contains(&c));
                                prop_assert_eq!(model.len(), max + 1);
                            }
                        }
                    }
                    Op::Leave(c) => {
                        let c = CallId(c);
                        let was_holder = model.front() == Some(&c);
                        model.retain(|x| *x != c);
                        let next = s.leave(c);
                        if was_holder {
                            prop_assert_eq!(next, model.front().copied());
                        } else {
                            prop_assert_eq!(next, None);
                        }
                    }
                    Op::Clear => {
                        let all = s.clear();
                        prop_assert_eq!(all, model.drain(..).collect::<Vec<_>>());
                    }
                }
                let (holder, waiting) = s.state();
                prop_assert_eq!(holder, model.front().copied());
                prop_assert!(waiting <= max);
                prop_assert_eq!(waiting, model.len().saturating_sub(1));
            }
        }
    }
}
