//go:build capture

package keyscmd

// This file regenerates testdata/captured_0200_*.txt, the purchase requests
// TestCapturedPurchase replays. It is built only with the "capture" tag:
//
//	go test -tags capture -run TestCapturePurchase ./cmd/posctl/keyscmd
//
// so the ordinary test build never depends on the terminal's ISO 8583
// client: its API may change without breaking the replay, which reads the
// stored bytes only. Regenerating gives the same bytes as long as the
// terminal's message layout, KSN sequence and ciphers stay the same (the
// clock, STAN and PIN block fill are fixed here); a diff in testdata after
// regenerating means one of those changed.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/terminal/dukptkeys"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

type captureSecrets map[string][]byte

func (m captureSecrets) PutSecret(name string, data []byte) error {
	m[name] = bytes.Clone(data)
	return nil
}

func (m captureSecrets) UseSecret(name string, fn func([]byte) error) error {
	v, ok := m[name]
	if !ok {
		return errCaptureNoSecret
	}
	return fn(bytes.Clone(v))
}

var errCaptureNoSecret = errors.New("no such secret")

func TestCapturePurchase(t *testing.T) {
	for _, c := range []struct {
		mode       wiresec.Mode
		bdk, iksn  string
		card       string
		skip       int    // KSNs used before the captured one
		tpdu       string // "" = no TPDU
		bdkComment string
	}{
		{wiresec.ModeTDES, tdesBDK, tdesIKSN, "visa-classic", 4, "600001FFFF", "ANSI X9.24-1:2009 A.4\ntest BDK and initial KSN"},
		{wiresec.ModeAES, aesBDK, aesIKSN, "unionpay-debit", 6, "", "ANSI X9.24-3:2017\nsupplement's AES-128 test BDK and initial KSN"},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			card, ok := deck.Lookup(c.card)
			if !ok {
				t.Fatalf("no deck card %q", c.card)
			}
			bdk, _ := hex.DecodeString(c.bdk)
			iksn, _ := hex.DecodeString(c.iksn)
			tpdu, _ := hex.DecodeString(c.tpdu)

			// The terminal's key slot, loaded the way a test terminal is.
			src := dukptkeys.New(captureSecrets{}, c.mode, "dukpt.0", func(err error) bool { return errors.Is(err, errCaptureNoSecret) })
			if err := src.LoadFromBDK(bdk, iksn); err != nil {
				t.Fatal(err)
			}
			var sess *wiresec.Session
			for i := 0; i <= c.skip; i++ {
				if sess != nil {
					sess.Wipe()
				}
				var err error
				if sess, err = src.Next(); err != nil {
					t.Fatal(err)
				}
			}
			defer sess.Wipe()
			sess.Rand = bytes.NewReader(bytes.Repeat([]byte{0x5A}, 64))
			pinBlock, err := sess.EncryptPIN("1234", card.PAN)
			if err != nil {
				t.Fatal(err)
			}

			// A loopback "acquirer" that keeps the first frame and never answers.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			frames := make(chan []byte, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					close(frames)
					return
				}
				defer conn.Close()
				var hdr [2]byte
				if _, err := io.ReadFull(conn, hdr[:]); err != nil {
					close(frames)
					return
				}
				body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
				if _, err := io.ReadFull(conn, body); err != nil {
					close(frames)
					return
				}
				frames <- append(hdr[:], body...)
				_, _ = io.Copy(io.Discard, conn)
			}()

			when := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
			cl, err := host.New(&host.Opts{
				Addr: ln.Addr().String(), TPDU: tpdu, ResponseTimeout: 300 * time.Millisecond,
				TerminalID: "POSD0001", MerchantID: "104110053990001",
				Now: func() time.Time { return when },
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Purchase(context.Background(), host.Purchase{
				STAN: 314, Amount: 2599, Currency: "156", EntryMode: "901",
				Track2: []byte(card.Track2), PINBlock: pinBlock, Time: when,
			}, sess)
			if !errors.Is(err, host.ErrNoResponse) {
				t.Fatalf("purchase: %v, want no response", err)
			}
			_ = cl.Close()
			frame, ok := <-frames
			if !ok {
				t.Fatal("nothing captured")
			}

			framing := "no TPDU"
			if len(tpdu) > 0 {
				framing = "a 5-byte TPDU"
			}
			var b strings.Builder
			for _, line := range []string{
				"A 0200 purchase request as the terminal sends it, captured on a",
				"loopback listener from terminal/host's client. Keys: the DUKPT slot",
				"of terminal/dukptkeys loaded from the " + c.bdkComment + ";",
				fmt.Sprintf("the slot's KSN number %d. Card: track 2 of the simulated deck card", c.skip+1),
				fmt.Sprintf("%q; PIN block of PIN 1234. Test keys and test cards only.", c.card),
				"Frame: 2-byte big-endian length, " + framing + ", then the ISO 8583:1987",
				"message of terminal/host/spec.go.",
				"Regenerate: go test -tags capture -run TestCapturePurchase ./cmd/posctl/keyscmd",
			} {
				b.WriteString("# " + strings.ReplaceAll(line, "\n", "\n# ") + "\n")
			}
			fmt.Fprintf(&b, "mode: %s\n", c.mode)
			fmt.Fprintf(&b, "bdk: %s\n", strings.ToUpper(c.bdk))
			fmt.Fprintf(&b, "track2: %s\n", card.Track2)
			fmt.Fprintf(&b, "pan: %s\n", card.PAN)
			fmt.Fprintf(&b, "pin: 1234\n")
			fmt.Fprintf(&b, "frame: %s\n", strings.ToUpper(hex.EncodeToString(frame)))
			path := filepath.Join("testdata", "captured_0200_"+string(c.mode)+".txt")
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d-byte frame)", path, len(frame))
		})
	}
}
