package sim

import (
	"crypto/rand"
	"time"

	"posd/board/sim/deck"
)

// PhoneCPM is the EMV consumer-presented QR code (base64, EMVCo QRCPS)
// the customer's phone shows for deck card name: a fresh code each call,
// with the next application transaction counter of that card's phone
// (from 1), a random unpredictable number and a real ARQC that the
// simulated issuer verifies. The code is a bearer token: the caller
// shows it and forgets it.
func (b *Board) PhoneCPM(name string) (string, error) {
	b.chipMu.Lock()
	if b.phoneATC == nil {
		b.phoneATC = map[string]uint16{}
	}
	b.phoneATC[name]++
	atc := b.phoneATC[name]
	b.chipMu.Unlock()
	var un [4]byte
	if _, err := rand.Read(un[:]); err != nil {
		return "", err
	}
	return deck.CPM(name, atc, un, time.Now())
}
