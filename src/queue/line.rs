//! One project's line in memory: arrival order, with any member's position in
//! O(log n) and removal from anywhere in O(log n).
//!
//! Each arrival takes the next ticket. A Fenwick tree over the tickets holds 1
//! where a ticket is still held and 0 where its holder left, so a position is
//! a prefix sum. Leaving vacates a ticket rather than shifting everyone
//! behind it; once vacated tickets outnumber held ones the line is compacted,
//! which keeps memory proportional to the users actually waiting and costs
//! O(1) amortised per departure.

/// Marks a ticket whose holder left.
const VACANT: u32 = u32::MAX;

/// A line of entry keys (the store's own handles on its users).
#[derive(Debug)]
pub struct Line {
    /// The ticket of `slots[0]`.
    base: u64,
    /// For each ticket from `base` on, the key of the entry holding it.
    slots: Vec<u32>,
    /// Fenwick tree over `slots`, 1-based: `tree[i]` sums a range of held
    /// flags ending at slot `i - 1`. `tree[0]` is unused.
    tree: Vec<u32>,
    /// Offset of the first held slot; `slots.len()` when the line is empty.
    first: usize,
    /// How many tickets are held.
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    pub fn new() -> Self {
        Self {
            base: 0,
            slots: Vec::new(),
            tree: vec![0],
            first: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `key` at the end and returns its ticket.
    pub fn push(&mut self, key: u32) -> u64 {
        debug_assert_ne!(key, VACANT);
        self.slots.push(key);
        let index = self.slots.len();
        // A new node covers the slots (index - lowbit, index]: itself plus
        // the already-built range just before it.
        let covered = self.prefix(index - 1) - self.prefix(index - lowbit(index));
        self.tree.push(1 + covered);
        self.len += 1;
        self.base + (index as u64 - 1)
    }

    /// The number of held tickets before `ticket`: its holder's 0-based place.
    pub fn position(&self, ticket: u64) -> u64 {
        u64::from(self.prefix(self.offset(ticket)))
    }

    /// The key at the head of the line.
    pub fn head(&self) -> Option<u32> {
        self.slots.get(self.first).copied()
    }

    /// Vacates `ticket`. Call [`Line::compact`] afterwards when
    /// [`Line::wants_compaction`] says so.
    pub fn remove(&mut self, ticket: u64) {
        let offset = self.offset(ticket);
        debug_assert_ne!(self.slots[offset], VACANT, "ticket {ticket} removed twice");
        self.slots[offset] = VACANT;
        let mut index = offset + 1;
        while index < self.tree.len() {
            self.tree[index] -= 1;
            index += lowbit(index);
        }
        self.len -= 1;
        while self.first < self.slots.len() && self.slots[self.first] == VACANT {
            self.first += 1;
        }
    }

    /// True once vacated tickets outnumber held ones (with some slack, so
    /// that a short line does not compact on every departure).
    pub fn wants_compaction(&self) -> bool {
        self.slots.len() > 2 * self.len + 64
    }

    /// Drops vacated tickets and renumbers the held ones in order, telling
    /// `renumber` each key's new ticket.
    pub fn compact(&mut self, mut renumber: impl FnMut(u32, u64)) {
        self.base += self.slots.len() as u64;
        self.slots.retain(|key| *key != VACANT);
        self.slots.shrink_to(self.slots.len() * 2);
        self.first = 0;

        self.tree.clear();
        self.tree.resize(self.slots.len() + 1, 1);
        self.tree[0] = 0;
        for index in 1..self.tree.len() {
            let parent = index + lowbit(index);
            if parent < self.tree.len() {
                self.tree[parent] += self.tree[index];
            }
        }
        self.tree.shrink_to(self.tree.len() * 2);

        for (offset, key) in self.slots.iter().enumerate() {
            renumber(*key, self.base + offset as u64);
        }
    }

    /// Keys in line order.
    #[cfg(test)]
    pub fn keys(&self) -> Vec<u32> {
        self.slots
            .iter()
            .copied()
            .filter(|key| *key != VACANT)
            .collect()
    }

    fn offset(&self, ticket: u64) -> usize {
        let offset = ticket
            .checked_sub(self.base)
            .expect("a ticket older than the line's base");
        usize::try_from(offset).expect("ticket offset fits in memory")
    }

    /// Sum of the held flags of slots `0..count`.
    fn prefix(&self, count: usize) -> u32 {
        let mut index = count;
        let mut sum = 0;
        while index > 0 {
            sum += self.tree[index];
            index -= lowbit(index);
        }
        sum
    }
}

fn lowbit(index: usize) -> usize {
    index & index.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every held ticket's position against a plain list.
    fn assert_positions(line: &Line, tickets: &[(u32, u64)]) {
        for (place, (key, ticket)) in tickets.iter().enumerate() {
            assert_eq!(line.position(*ticket), place as u64, "key {key}");
        }
        assert_eq!(line.len(), tickets.len());
        assert_eq!(line.head(), tickets.first().map(|(key, _)| *key));
        assert_eq!(
            line.keys(),
            tickets.iter().map(|(key, _)| *key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn positions_follow_arrivals_and_departures_from_anywhere() {
        let mut line = Line::new();
        let mut tickets: Vec<(u32, u64)> = (0..10).map(|key| (key, line.push(key))).collect();
        assert_positions(&line, &tickets);

        for remove_at in [4, 0, 7, 3] {
            let (_, ticket) = tickets.remove(remove_at);
            line.remove(ticket);
            assert_positions(&line, &tickets);
        }
        tickets.push((10, line.push(10)));
        assert_positions(&line, &tickets);
    }

    #[test]
    fn compaction_renumbers_without_changing_the_order() {
        let mut line = Line::new();
        let mut tickets: Vec<(u32, u64)> = (0..500).map(|key| (key, line.push(key))).collect();
        // Vacate every other ticket and most of the front.
        let mut kept = Vec::new();
        for (index, (key, ticket)) in tickets.drain(..).enumerate() {
            if index % 2 == 0 || index < 300 {
                line.remove(ticket);
            } else {
                kept.push((key, ticket));
            }
        }
        assert!(line.wants_compaction());
        line.compact(|key, ticket| {
            kept.iter_mut().find(|(k, _)| *k == key).unwrap().1 = ticket;
        });
        assert!(!line.wants_compaction());
        assert_positions(&line, &kept);

        kept.push((999, line.push(999)));
        assert_positions(&line, &kept);
    }

    #[test]
    fn a_line_emptied_and_refilled_starts_at_place_zero() {
        let mut line = Line::new();
        let ticket = line.push(1);
        line.remove(ticket);
        assert!(line.is_empty());
        assert_eq!(line.head(), None);
        let ticket = line.push(2);
        assert_eq!(line.position(ticket), 0);
        assert_eq!(line.head(), Some(2));
    }
}
