package engauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"posd/conn/clock"
)

func fuzzSeeds(f *testing.F) {
	pub, priv, _ := GenerateKey(seeded(7))
	_ = pub
	ch, _ := NewChallenge("TERM0001", seeded(0x9f))
	for _, c := range []Claims{
		{Engineer: "eng-042", Role: RoleEngineer, Terminal: "TERM0001", Expiry: t0.Add(time.Hour), Challenge: ch},
		{Engineer: "x", Role: RoleAdmin, Terminal: "group:pilot", Expiry: t0.Add(time.Minute), Challenge: ch},
	} {
		tok, _ := Sign(priv, c)
		f.Add(tok)
	}
	f.Add("")
	f.Add(".")
	f.Add("e30.AA")
	f.Add(signRaw(priv, `{"v":1,"eng":"a","role":"root","term":"T","exp":1,"cterm":"T","nonce":"00000000000000000000000000000000"}`))
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Parse(tok)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error not ErrMalformed: %v", err)
			}
			if len(tok) > 8 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error quotes the token")
			}
			return
		}
		if !validID(c.Engineer) || !validTarget(c.Terminal) || !validTerminalID(c.Challenge.Terminal) || !validID(string(c.Role)) {
			t.Fatalf("Parse accepted fields out of their rules: %+v", c)
		}
	})
}

func FuzzVerify(f *testing.F) {
	fuzzSeeds(f)
	pub, _, _ := GenerateKey(seeded(7))
	ch, _ := NewChallenge("TERM0001", seeded(0x9f))
	v := &Verifier{Key: pub, Terminal: "TERM0001", Groups: []string{"pilot"}, Clock: clock.NewFake(t0)}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok, ch)
		if err != nil {
			return
		}
		// Only what the key signed gets through.
		if c.Challenge != ch || !c.Role.Valid() || !c.Expiry.After(t0) {
			t.Fatalf("Verify accepted %+v", c)
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add("posd-login TERM0001 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F")
	f.Add("T 00")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil {
			return
		}
		again, err := ParseChallenge(c.String())
		if err != nil || again != c {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", c, c.String(), again, err)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("0707070707070707070707070707070707070707070707070707070707070707"))
	f.Add([]byte("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := ParsePublicKey(b); err == nil && len(k) != 32 {
			t.Fatalf("public key of %d bytes", len(k))
		}
		if k, err := ParsePrivateKey(b); err == nil && len(k) != 64 {
			t.Fatalf("private key of %d bytes", len(k))
		}
	})
}
