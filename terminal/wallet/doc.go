// Package wallet pays with the customer's wallet payment code (WeChat Pay,
// Alipay, UnionPay QR) through one interface, Client, over the platforms,
// and resolves payments whose outcome is unknown.
//
// A Pay that never left (ErrNotSent: no connection to the platform
// could be made) took nothing: the sale fails at once, with nothing to
// resolve or cancel. A Pay answered "user_paying" (the customer still
// confirms on the phone) or not answered at all once it was on its way
// (OutcomeUnknown(err)) is handed to a Resolver: it
// queries the platform on a bounded schedule — a first wait of
// ResolverOpts.First (2 s), then doubling, each wait drawn with full
// jitter above a floor, all within ResolverOpts.Total (60 s) — and cancels
// the payment when the schedule ends unresolved. Every query of one
// terminal takes a token of one shared Limiter (a token bucket of
// LimiterOpts.Rate queries a second), and a "too frequent" answer doubles
// the next wait: a fleet of terminals never queries a platform in step
// (see the storm test in cmd/acquirer-sim/wallet).
//
// A merchant-presented payment goes the other way: Precreate registers
// the order (no payment code) and the terminal shows a dynamic EMV
// merchant-presented QR code for it (terminal/paycode BuildMPM: bill
// number 62/01 the order id, terminal label 62/07 the terminal id); the
// payer's phone scans it and pays through its platform, and the terminal
// learns the outcome by querying — the order answers user_paying until
// the payer has paid — and cancels it (closed; refunded when it was paid
// meanwhile) when the customer walks away.
//
// HTTPClient speaks the small HTTP+JSON protocol of the wallet platform
// simulator (cmd/acquirer-sim/wallet documents it): POST
// {base}/{platform}/{pay|precreate|query|cancel|refund}, a JSON body,
// every request signed with HMAC-SHA256 under the terminal's key and
// every answer signed back, bound to its request.
//
// Every answer states the amount and currency the platform holds the
// order at (what it charged, once paid). The client checks those of a
// pay, a precreate, and a query of an order it paid or precreated (the
// last MaxOrders) against the order: a paid or payable order at another
// amount or currency is never an approval (ErrAmountMismatch, the
// outcome unknown), and the Resolver cancels it at once. A refund's
// answer must state the refund's amount. An outcome the client cannot
// know comes with StatusUnknown; after a refund it means the refund may
// have been made: ask again with the same refund id.
//
// The payment code is sent once, in the pay request; it is never kept,
// logged or put in an error text.
//
// Time comes from a conn/clock Clock and randomness from a *rand.Rand in
// the options, so tests run the schedule on clock.Fake.
package wallet
