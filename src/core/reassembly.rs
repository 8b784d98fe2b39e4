//! The audio of a long text's pieces, which arrive side by side and in any order, given back
//! strictly in order: all of the first piece, then all of the second, and so on. Chunks of the
//! piece being given back pass straight through; those of later pieces wait here.

use std::collections::VecDeque;

/// Pieces' chunks in, the in-order stream out.
#[derive(Debug)]
pub struct Reassembly {
    /// The number of pieces.
    count: usize,
    /// The piece whose chunks are given back now.
    next: usize,
    /// Chunks not yet given back: of piece `next`, then of each piece after it.
    held: VecDeque<Held>,
    /// Their bytes.
    buffered: usize,
}

#[derive(Debug, Default)]
struct Held {
    chunks: VecDeque<Vec<u8>>,
    ended: bool,
}

impl Reassembly {
    /// For `count` pieces, numbered from 0.
    pub fn new(count: usize) -> Self {
        Self {
            count,
            next: 0,
            held: VecDeque::new(),
            buffered: 0,
        }
    }

    /// A chunk of piece `piece` arrived (ignored for a piece out of range or already ended).
    pub fn push(&mut self, piece: usize, chunk: Vec<u8>) {
        if piece < self.next || piece >= self.count || chunk.is_empty() {
            return;
        }
        let n = chunk.len();
        let held = self.slot(piece);
        if held.ended {
            return;
        }
        held.chunks.push_back(chunk);
        self.buffered += n;
    }

    /// Piece `piece` has all its audio.
    pub fn end(&mut self, piece: usize) {
        if piece >= self.next && piece < self.count {
            self.slot(piece).ended = true;
        }
    }

    /// The next chunk in order, with its piece, if it has arrived.
    pub fn pop(&mut self) -> Option<(usize, Vec<u8>)> {
        loop {
            let held = self.held.front_mut()?;
            if let Some(chunk) = held.chunks.pop_front() {
                self.buffered -= chunk.len();
                return Some((self.next, chunk));
            }
            if !held.ended {
                return None;
            }
            self.held.pop_front();
            self.next += 1;
        }
    }

    /// What is held of `piece` (at or after `next`).
    fn slot(&mut self, piece: usize) -> &mut Held {
        let at = piece - self.next;
        if self.held.len() <= at {
            self.held.resize_with(at + 1, Held::default);
        }
        &mut self.held[at]
    }

    /// Every piece has ended and been given back.
    pub fn is_done(&self) -> bool {
        self.next >= self.count
    }

    /// The piece being given back (`count` once done).
    pub fn current(&self) -> usize {
        self.next
    }

    /// Bytes waiting to be given back.
    pub fn buffered(&self) -> usize {
        self.buffered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn later_pieces_wait_for_earlier_ones() {
        let mut r = Reassembly::new(2);
        r.push(1, b"cd".to_vec());
        r.end(1);
        assert_eq!(r.pop(), None);
        assert_eq!(r.buffered(), 2);
        r.push(0, b"ab".to_vec());
        assert_eq!(r.pop(), Some((0, b"ab".to_vec())));
        assert_eq!(r.pop(), None);
        assert!(!r.is_done());
        r.end(0);
        assert_eq!(r.pop(), Some((1, b"cd".to_vec())));
        assert_eq!(r.pop(), None);
        assert!(r.is_done());
        assert_eq!(r.buffered(), 0);
    }

    proptest! {
        /// Whatever order the pieces' chunks and ends arrive in, and whenever the reader reads,
        /// it gets exactly the pieces' audio in order, each chunk tagged with its piece.
        #[test]
        fn any_arrival_order_gives_the_pieces_in_order(
            pieces in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..6), 0..5), 0..6),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..80),
            reads in proptest::collection::vec(any::<bool>(), 0..80),
        ) {
            // Each piece's events (its chunks, then its end) keep their own order; the pieces
            // interleave as `order` picks.
            let mut queues: Vec<VecDeque<Option<Vec<u8>>>> = pieces
                .iter()
                .map(|p| p.iter().cloned().map(Some).chain([None]).collect())
                .collect();
            let mut r = Reassembly::new(pieces.len());
            let mut got: Vec<(usize, Vec<u8>)> = Vec::new();
            let mut picks = order.iter();
            let mut reads = reads.iter();
            loop {
                let open: Vec<usize> = (0..queues.len()).filter(|&i| !queues[i].is_empty()).collect();
                if open.is_empty() {
                    break;
                }
                let i = picks.next().map_or(open[0], |ix| open[ix.index(open.len())]);
                match queues[i].pop_front().flatten() {
                    Some(chunk) => r.push(i, chunk),
                    None => r.end(i),
                }
                if reads.next().copied().unwrap_or(false) {
                    got.extend(r.pop());
                }
            }
            while let Some(c) = r.pop() {
                got.push(c);
            }
            prop_assert!(r.is_done());
            prop_assert_eq!(r.buffered(), 0);
            let want: Vec<(usize, Vec<u8>)> = pieces
                .iter()
                .enumerate()
                .flat_map(|(i, p)| p.iter().map(move |c| (i, c.clone())))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
