package emv

// txnState is the transaction state (the stages follow).
type txnState struct{ outcome Outcome }
