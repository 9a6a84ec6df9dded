// Package risk decides, before a transaction goes to authorization,
// whether the terminal lets it: the acquirer's risk rules, each
// configurable (Rules, ParseRules) and each refusal named by a stable code
// (Code) that the sale engine stores in the record and the display words.
//
//   - hotlist: the card's keyed hash is on the acquirer's list of blocked
//     cards (a parameter file, see ParseHotlist; replaced whole, never
//     moved back to an older version).
//   - max amount per entry mode (swipe, insert, tap, qr, face).
//   - velocity: per card on this terminal, the count and the sum of
//     approved sales and preauthorizations within a sliding window, kept in
//     bbolt (Record) and pruned.
//   - offline limits, when the host is unreachable: only card sales, no
//     magstripe unless allowed, a floor limit per transaction, no swipe or
//     tap that would need an online PIN, and at most
//     a count, a cumulative amount and an age of offline approvals waiting
//     to be forwarded, as the sale engine's OfflineLedger reports them.
//   - tiered verification: an allowed sale says which CVM it needs (none
//     up to the entry mode's no-CVM limit, online PIN above, offline PIN
//     for a chip card while the host is unreachable; payment password for
//     face pay; none for wallet codes).
//
// Card data. A PAN is only ever used to compute its keyed hash, the
// HMAC-SHA-256 of its digits under the per-terminal secret key the caller
// supplies (CardID); the engine never stores, logs or returns a PAN, a
// masked PAN or a plain hash, and the caller wipes the PAN's bytes. Card
// ids are not printed either (they link one card's transactions).
//
// Durable state lives in the terminal's bbolt file, in this package's own
// buckets (see SchemaVersion): the velocity entries and the hotlist in use.
// Offline approvals are not duplicated here: the sale engine's records are
// their one source of truth, read through OfflineLedger.
//
// Check never fails open on a broken state: an unreadable database or
// ledger refuses the transaction (RuleUnavailable). A terminal without a
// hotlist yet has an empty one, unless the rules require one.
package risk
