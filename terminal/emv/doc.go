// Package emv is posd's EMV kernel: it runs a chip card (EMV 4.4 books 1
// to 4, PBOC 3.0 compatible) or a contactless card (EMV Book A/B entry
// point, then kernel 2, 3 or 7 semantics) through a small transceiver,
// and never does I/O of its own.
//
// The caller (the sale engine) drives it:
//
//	cfg, err := emv.LoadParams(paramFile)      // terminal, AIDs, CA keys
//	cfg.AddCAPKs(simCAKeys...)                 // keys from elsewhere
//	k := emv.New(cfg, emv.Opts{Clock: c, Rand: r, Logger: l})
//	s, err := k.Start(ctx, card, emv.Contact, txn, ui)
//	switch s.Outcome() {
//	case emv.OutcomeOnlineRequest:
//		de55 := s.OnlineData()              // to the host
//		out, err := s.Complete(ctx, hostResponse)
//	}
//	rec := s.Summary()                         // nothing sensitive
//	s.Wipe()
//
// The API is being built; see the rest of this comment once it is.
package emv
