package txn

// CloseWhenIdle runs fn while no transaction (nor a batch close) is in
// progress and, when fn succeeds, closes the engine to new ones, all in
// one hold of the engine's lock: nothing starts between the check, fn and
// the closing. It is for what ends the process (a restart, a factory
// reset, a firmware trial): from then on Start and CloseBatch return
// ErrHalted, as during a shutdown, and the outbox starts no new attempt
// (one under way may finish until Shutdown). The closing is not undone;
// calling it again on a closed engine runs fn again.
//
// It returns ErrBusy, naming what is in progress, without running fn, and
// fn's error with the engine left open when fn fails. fn must be quick
// (a file written and synced): every caller of the engine waits for it.
func (e *Engine) CloseWhenIdle(fn func() error) error {
	return e.WhenIdle(func() error {
		if fn != nil {
			if err := fn(); err != nil {
				return err
			}
		}
		e.stop() // WhenIdle holds e.mu, as stop wants
		return nil
	})
}
