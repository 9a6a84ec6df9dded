// Package keypad scans a passive matrix keypad (no diodes) wired to GPIO
// pins through periph.io/x/conn/v3/gpio.
//
// Rows are driven one at a time: the active row is an output at Low, the
// others are released (input, high impedance) so that two keys pressed in
// the same column never short two driven outputs. Columns are inputs with
// pull-ups: a column reads Low when a closed key joins it to the active
// row. While no key is down every row is driven Low and the driver waits
// in WaitForEdge on a column (falling edge) for at most IdleWait when the
// pins support edge detection, or polls otherwise; either way it scans the
// matrix again after each wait.
//
// Each key is debounced on its own: a change is reported only after it has
// been read the same way for Opts.Debounce. Without diodes, three keys at
// three corners of a rectangle make the fourth corner read closed too
// (ghosting); a scan where two rows share two or more closed columns is
// ambiguous and is discarded.
//
// # Events, PIN entry and statistics
//
// Key changes go into a small queue (Opts.QueueLen, 8 by default) read
// with Next. Scanning never waits for the reader: when the queue is full
// the oldest event is dropped and counted (Stats.Dropped). The events of a
// PIN entry carry digits, so the queue is kept small and wiped: a slot is
// zeroed when its event is read, dropped or flushed. A PIN entry starts
// with Flush, so that no key pressed before the prompt becomes a digit;
// Halt wipes the queue too.
//
// Stats counts scans (with the time of the last one), failed scans and
// their last error, and queued, dropped and flushed events, never a key
// value. CheckScanning waits for a fresh scan: a self-test uses it to tell
// a scanner that works, whoever reads its events, from one that is stuck
// on a hung or failing pin (ErrStalled) or halted (ErrHalted).
//
// Halt stops scanning and leaves the Dev usable: Start resumes. Key values
// are never logged; logs only say that a key event happened.
package keypad
