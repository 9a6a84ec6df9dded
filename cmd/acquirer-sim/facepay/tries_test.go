package facepay_test

import (
	"errors"
	"fmt"
	"testing"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/cmd/acquirer-sim/facepay"
	"posd/crypto/faceseal"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// TestTriesWithinProtocol: a platform is built only with as many tries
// as its first wrong password can announce in a tries_left the terminal
// takes (fp.DecodeConfirm; any other is no valid outcome: the sale's
// outcome unknown, reversed), not met as an unknown outcome at the first
// wrong password.
func TestTriesWithinProtocol(t *testing.T) {
	key, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tries := range []int{1, 2, 3, 9, 10, 11, 50} {
		_, err := facepay.New(facepay.Opts{Key: key, Mode: wiresec.ModeAES, BDK: acquirer.DefaultBDK(wiresec.ModeAES),
			Tries: tries, Gallery: &facepay.Gallery{}})
		// The first wrong password of an account announces tries-1 (the
		// last one locks it instead).
		takes := true
		if tries > 1 {
			body := fmt.Sprintf(`{"order_id":"F1","status":"declined","reason":"wrong_password","tries_left":%d,"amount":100,"currency":"156"}`, tries-1)
			_, derr := fp.DecodeConfirm("F1", 100, "156", 200, []byte(body))
			takes = errors.Is(derr, fp.ErrWrongPassword)
		}
		if (err == nil) != takes {
			t.Errorf("Tries %d: platform built: %v; the terminal takes its tries_left: %v", tries, err, takes)
		}
	}
}
