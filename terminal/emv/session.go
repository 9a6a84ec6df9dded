package emv

import "context"

// Session is one transaction after Start: its outcome, the data for the
// host and the record, and the second half of a contact online
// transaction (Complete). Its methods are not safe for concurrent use.
type Session struct {
	st *txnState
}

// Outcome returns where the transaction stands.
func (s *Session) Outcome() Outcome { return s.st.outcome }

// Complete hands the host's answer back to the kernel.
func (s *Session) Complete(ctx context.Context, r HostResponse) (Outcome, error) {
	return OutcomeNone, ErrState
}
