// Package keypad scans a passive matrix keypad (no diodes) wired to GPIO
// pins through periph.io/x/conn/v3/gpio.
//
// Rows are driven one at a time: the active row is an output at Low, the
// others are released (input, high impedance) so that two keys pressed in
// the same column never short two driven outputs. Columns are inputs with
// pull-ups: a column reads Low when a closed key joins it to the active
// row.
//
// # Waiting for a key
//
// While no key is down every row is driven Low, so that a key closing
// anywhere makes its column fall, and the driver waits for that on every
// column at once. gpio.PinIn.WaitForEdge waits on one pin, blocking, so
// each column has a watcher goroutine blocked in it (falling edges) that
// wakes the scan goroutine: a tap on any column is scanned at once, and
// confirmed if it lasts the debounce plus a scan interval. The scan
// goroutine scans again after IdleWait without an edge as well, so that a
// missed edge costs at most IdleWait and the self-test sees scans. A
// watcher's WaitForEdge is bounded by IdleWait and cannot be interrupted:
// Halt waits up to that long for the watchers. Pins that accumulate edges
// while nobody waits (kernel GPIO lines keep a queue per line) lose none
// between two waits; a pin that returns from WaitForEdge at once without
// an edge is waited on once per IdleWait, not in a loop.
//
// Edges need every column to accept In(PullUp, FallingEdge). If one does
// not (a sysfs GPIO, which has no pull-ups; most I/O expanders), the
// driver logs it and polls instead: it scans the whole matrix every
// ScanInterval, idle or not, and starts no watcher. Polling sees the same
// taps but wakes the CPU every ScanInterval for as long as it runs.
// Opts.NoEdge forces it.
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
