package engauth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"posd/conn/clock"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// seeded returns a deterministic reader of the byte b.
func seeded(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 64)) }

type fixture struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	ch   Challenge
	v    *Verifier
	clk  *clock.Fake
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pub, priv, err := GenerateKey(seeded(7))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := NewChallenge("TERM0001", seeded(0x9f))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	return &fixture{pub: pub, priv: priv, ch: ch, clk: clk,
		v: &Verifier{Key: pub, Terminal: "TERM0001", Groups: []string{"shanghai-east", "pilot"}, Clock: clk}}
}

func (f *fixture) claims() Claims {
	return Claims{Engineer: "eng-042", Role: RoleCustodian, Terminal: "TERM0001", Expiry: t0.Add(8 * time.Hour), Challenge: f.ch}
}

func (f *fixture) sign(t *testing.T, c Claims) string {
	t.Helper()
	tok, err := Sign(f.priv, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRaw signs an arbitrary payload, for tokens Sign would refuse.
func signRaw(priv ed25519.PrivateKey, msg string) string {
	sig := ed25519.Sign(priv, []byte(SignContext+msg))
	return base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	want := f.claims()
	tok := f.sign(t, want)
	if len(tok) >= MaxTokenLen || strings.ContainsAny(tok, " \t\r\n") {
		t.Fatalf("token not one short printable line: %d chars", len(tok))
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			t.Fatalf("unprintable byte at %d", i)
		}
	}
	got, err := f.v.Verify(tok, f.ch)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("claims %+v, want %+v", got, want)
	}
	parsed, err := Parse(tok)
	if err != nil || parsed != want {
		t.Fatalf("Parse = %+v, %v", parsed, err)
	}
	// The payload is the documented JSON.
	p, _, _ := strings.Cut(tok, ".")
	msg, _ := base64.RawURLEncoding.DecodeString(p)
	wantMsg := `{"v":1,"eng":"eng-042","role":"custodian","term":"TERM0001","exp":` +
		"1741971600" + `,"cterm":"TERM0001","nonce":"9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F"}`
	if string(msg) != wantMsg {
		t.Fatalf("payload %s\nwant    %s", msg, wantMsg)
	}
}

func TestLongestToken(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat(`"`, MaxIDLen) // escaped to \" in JSON: the worst case
	ch := Challenge{Terminal: strings.Repeat("<", MaxIDLen)}
	c := Claims{Engineer: long, Role: RoleCustodian, Terminal: GroupPrefix + strings.Repeat("&", MaxIDLen), Expiry: time.Unix(maxUnix, 0).UTC(), Challenge: ch}
	tok := f.sign(t, c)
	if len(tok) >= MaxTokenLen {
		t.Fatalf("worst-case token is %d chars", len(tok))
	}
	got, err := Parse(tok)
	if err != nil || got != c {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
}

func TestGroups(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	c.Terminal = "group:pilot"
	if _, err := f.v.Verify(f.sign(t, c), f.ch); err != nil {
		t.Fatalf("group member refused: %v", err)
	}
	c.Terminal = "group:beijing"
	if _, err := f.v.Verify(f.sign(t, c), f.ch); !errors.Is(err, ErrTerminal) {
		t.Fatalf("other group: %v, want ErrTerminal", err)
	}
	// A terminal id that happens to equal a group name is not the group.
	c.Terminal = "TERM0001"
	v := *f.v
	v.Groups = nil
	if _, err := v.Verify(f.sign(t, c), f.ch); err != nil {
		t.Fatal(err)
	}
	c.Terminal = "group:TERM0001"
	if _, err := v.Verify(f.sign(t, c), f.ch); !errors.Is(err, ErrTerminal) {
		t.Fatalf("group named like the terminal: %v, want ErrTerminal", err)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	otherPub, otherPriv, _ := GenerateKey(seeded(8))
	other, _ := NewChallenge("TERM0001", seeded(0x11))
	good := f.sign(t, f.claims())
	p, s, _ := strings.Cut(good, ".")

	with := func(mod func(*Claims)) string {
		c := f.claims()
		mod(&c)
		return f.sign(t, c)
	}
	flip := func(part string, i int) string {
		b, _ := base64.RawURLEncoding.DecodeString(part)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	badRole := signRaw(f.priv, `{"v":1,"eng":"eng-042","role":"root","term":"TERM0001","exp":1741971600,"cterm":"TERM0001","nonce":"`+strings.ToUpper(hex.EncodeToString(f.ch.Nonce[:]))+`"}`)

	cases := []struct {
		name  string
		tok   string
		ch    Challenge
		v     *Verifier
		want  error
		after time.Duration
	}{
		{"expired", with(func(c *Claims) { c.Expiry = t0.Add(-time.Second) }), f.ch, f.v, ErrExpired, 0},
		{"expires now", with(func(c *Claims) { c.Expiry = t0 }), f.ch, f.v, ErrExpired, 0},
		{"expired later", good, f.ch, f.v, ErrExpired, 8 * time.Hour},
		{"ttl too long", with(func(c *Claims) { c.Expiry = t0.Add(24*time.Hour + time.Second) }), f.ch, f.v, ErrExpired, 0},
		{"ttl over custom max", good, f.ch, &Verifier{Key: f.pub, Terminal: "TERM0001", Clock: f.clk, MaxTTL: time.Hour}, ErrExpired, 0},
		{"other terminal", with(func(c *Claims) { c.Terminal = "TERM0002" }), f.ch, f.v, ErrTerminal, 0},
		{"replay (old challenge)", good, other, f.v, ErrChallenge, 0},
		{"challenge of another terminal", with(func(c *Claims) { c.Challenge.Terminal = "TERM0002" }), f.ch, f.v, ErrChallenge, 0},
		{"verifier of another terminal", good, f.ch, &Verifier{Key: f.pub, Terminal: "TERM0002", Clock: f.clk}, ErrChallenge, 0},
		{"other key", good, f.ch, &Verifier{Key: otherPub, Terminal: "TERM0001", Clock: f.clk}, ErrSignature, 0},
		{"signed by other key", func() string { t, _ := Sign(otherPriv, f.claims()); return t }(), f.ch, f.v, ErrSignature, 0},
		{"no key pinned", good, f.ch, &Verifier{Terminal: "TERM0001", Clock: f.clk}, ErrSignature, 0},
		{"tampered payload", flip(p, 20) + "." + s, f.ch, f.v, nil, 0}, // malformed or signature
		{"tampered signature", p + "." + flip(s, 5), f.ch, f.v, ErrSignature, 0},
		{"payload of another token", strings.SplitN(with(func(c *Claims) { c.Role = RoleAdmin }), ".", 2)[0] + "." + s, f.ch, f.v, ErrSignature, 0},
		{"bad role", badRole, f.ch, f.v, ErrRole, 0},
		{"empty", "", f.ch, f.v, ErrMalformed, 0},
		{"no dot", p, f.ch, f.v, ErrMalformed, 0},
		{"two dots", good + ".x", f.ch, f.v, ErrMalformed, 0},
		{"too long", strings.Repeat("A", MaxTokenLen+1), f.ch, f.v, ErrMalformed, 0},
		{"padded", p + "=." + s, f.ch, f.v, ErrMalformed, 0},
		{"spaced JSON", signRaw(f.priv, `{"v":1, "eng":"eng-042","role":"custodian","term":"TERM0001","exp":1741971600,"cterm":"TERM0001","nonce":"`+strings.ToUpper(hex.EncodeToString(f.ch.Nonce[:]))+`"}`), f.ch, f.v, ErrMalformed, 0},
		{"version 2", signRaw(f.priv, `{"v":2,"eng":"eng-042","role":"custodian","term":"TERM0001","exp":1741971600,"cterm":"TERM0001","nonce":"`+strings.ToUpper(hex.EncodeToString(f.ch.Nonce[:]))+`"}`), f.ch, f.v, ErrMalformed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0.Add(tc.after))
			v := *tc.v
			v.Clock = clk
			c, err := v.Verify(tc.tok, tc.ch)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
				t.Fatalf("err %v, want ErrMalformed or ErrSignature", err)
			}
			if c != (Claims{}) {
				t.Fatalf("claims returned with an error: %+v", c)
			}
			if tc.tok != "" && (strings.Contains(err.Error(), tc.tok) || strings.Contains(err.Error(), s)) {
				t.Fatalf("error quotes the token: %v", err)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	f := newFixture(t)
	cases := map[string]struct {
		mod  func(*Claims)
		want error
	}{
		"role":            {func(c *Claims) { c.Role = "root" }, ErrRole},
		"empty engineer":  {func(c *Claims) { c.Engineer = "" }, ErrMalformed},
		"engineer space":  {func(c *Claims) { c.Engineer = "a b" }, ErrMalformed},
		"engineer long":   {func(c *Claims) { c.Engineer = strings.Repeat("e", 33) }, ErrMalformed},
		"engineer utf8":   {func(c *Claims) { c.Engineer = "工程师" }, ErrMalformed},
		"empty terminal":  {func(c *Claims) { c.Terminal = "" }, ErrMalformed},
		"empty group":     {func(c *Claims) { c.Terminal = "group:" }, ErrMalformed},
		"zero expiry":     {func(c *Claims) { c.Expiry = time.Time{} }, ErrMalformed},
		"zero challenge":  {func(c *Claims) { c.Challenge = Challenge{} }, ErrMalformed},
		"group challenge": {func(c *Claims) { c.Challenge.Terminal = "group:x" }, ErrMalformed},
	}
	for name, tc := range cases {
		c := f.claims()
		tc.mod(&c)
		if _, err := Sign(f.priv, c); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := Sign(f.priv[:32], f.claims()); !errors.Is(err, ErrKey) {
		t.Errorf("short key: %v", err)
	}
}

func TestChallenge(t *testing.T) {
	ch, err := NewChallenge("TERM0001", seeded(0x9f))
	if err != nil {
		t.Fatal(err)
	}
	s := ch.String()
	if s != "posd-login TERM0001 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F" {
		t.Fatalf("String = %q", s)
	}
	for _, in := range []string{s, "  " + s + "\r\n", "posd-login TERM0001 9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f", "TERM0001 9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f", "posd-login\tTERM0001   9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F",
		// The whole line as the console shows it, copied from the
		// terminal program.
		"challenge: " + s, "challenge: " + s + "\r"} {
		got, err := ParseChallenge(in)
		if err != nil || got != ch {
			t.Errorf("ParseChallenge(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "posd-login", "posd-login TERM0001", "posd-login TERM0001 9F9F", "posd-login TERM0001 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9FZZ",
		"login TERM0001 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F", "posd-login group:x 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F", "posd-login A B 9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F9F",
		"challenge: TERM0001", "challenge: challenge: " + s, "token: " + s} {
		if _, err := ParseChallenge(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseChallenge(%q) = %v, want ErrMalformed", in, err)
		}
	}
	a, _ := NewChallenge("T1", nil)
	b, _ := NewChallenge("T1", nil)
	if a == b {
		t.Fatal("two challenges from crypto/rand are equal")
	}
	if _, err := NewChallenge("T1", bytes.NewReader([]byte{1, 2})); !errors.Is(err, ErrKey) {
		t.Fatalf("short random source: %v", err)
	}
	if _, err := NewChallenge("has space", nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad terminal: %v", err)
	}
}

func TestRoles(t *testing.T) {
	for _, r := range []Role{RoleEngineer, RoleCustodian, RoleAdmin} {
		if !r.Valid() {
			t.Errorf("%s not valid", r)
		}
	}
	for _, r := range []Role{"", "Admin", "root", "engineer "} {
		if r.Valid() {
			t.Errorf("%q valid", r)
		}
	}
}
