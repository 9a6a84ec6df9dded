package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestDigits(t *testing.T) {
	for in, want := range map[string]string{
		"pan 4761739001010010 ok":                 "pan 476173******0010 ok",
		";4761739001010010=30121010000000000000?": ";476173******0010=********************?",
		"stan 000123 amount 1234":                 "stan 000123 amount 1234",
		"6212345678901234569":                     "621234*********4569",
		"":                                        "",
	} {
		if got := Digits(in); got != want {
			t.Errorf("Digits(%q) = %q, want %q", in, got, want)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "track 4761739001010010=30121010000000000000" }

func TestHandlerMasks(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	lg = lg.With("card", "5413330089010012")
	lg.Info("read 4761739001010010", "err", errors.New("bad 4000000000000002"),
		"s", stringer{}, "g", slog.Group("x", "pan", "6212345678901234569"), "raw", []byte("4111111111111111"))
	out := buf.String()
	for _, pan := range []string{"4761739001010010", "5413330089010012", "4000000000000002", "6212345678901234569", "4111111111111111", "30121010000000000000"} {
		if strings.Contains(out, pan) {
			t.Errorf("log line leaks %s: %s", pan, out)
		}
	}
	if !strings.Contains(out, "476173******0010") {
		t.Errorf("masked PAN missing: %s", out)
	}
}

func FuzzDigits(f *testing.F) {
	f.Add("4761739001010010")
	f.Fuzz(func(t *testing.T, s string) {
		out := Digits(s)
		if len(out) != len(s) {
			t.Fatalf("length changed")
		}
		run := 0
		for i := 0; i < len(out); i++ {
			if out[i] >= '0' && out[i] <= '9' {
				if run++; run > 11 {
					t.Fatalf("unmasked run in %q", out)
				}
			} else {
				run = 0
			}
		}
	})
}
