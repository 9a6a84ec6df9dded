// Package keypad scans a passive matrix keypad (no diodes) wired to GPIO
// pins through periph.io/x/conn/v3/gpio.
//
// Rows are driven one at a time: the active row is an output at Low, the
// others are released (input, high impedance) so that two keys pressed in
// the same column never short two driven outputs. Columns are inputs with
// pull-ups: a column reads Low when a closed key joins it to the active
// row. While no key is down every row is driven Low and the driver sleeps
// in WaitForEdge on the columns (falling edge) when the pins support edge
// detection, or polls otherwise.
//
// Each key is debounced on its own: a change is reported only after it has
// been read the same way for Opts.Debounce. Without diodes, three keys at
// three corners of a rectangle make the fourth corner read closed too
// (ghosting); a scan where two rows share two or more closed columns is
// ambiguous and is discarded.
//
// Key values are never logged; logs only say that a key event happened.
package keypad
