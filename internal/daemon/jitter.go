package daemon

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
)

// newJitter is a generator for the jitter of back-offs, seeded from
// crypto/rand: terminals that start together (a shop's power comes back)
// do not retry in step. The loops take theirs from a field of the struct
// that owns them, so that tests can seed it.
func newJitter() (*rand.Rand, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seeding the jitter: %w", err)
	}
	return rand.New(rand.NewChaCha8(seed)), nil
}
