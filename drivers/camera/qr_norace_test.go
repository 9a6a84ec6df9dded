//go:build !nocv && !race

package camera

// qrRace tells the QR tests that the race detector is on.
const qrRace = false
