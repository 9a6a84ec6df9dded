// Package engauth is the field engineer's login to the service console: the
// console prints a challenge (terminal id and a fresh nonce), the engineer
// obtains from the acquirer's engineer authority a token bound to that
// challenge, one terminal (or fleet group), one engineer, one role and an
// expiry, signed with Ed25519, and pastes it. The authority's public key is
// pinned in the terminal's parameters.
//
// Token format (one printable line, at most MaxTokenLen characters):
//
//	base64url(payload) "." base64url(signature)
//
// base64url is RFC 4648 §5 without padding (strict: no trailing bits).
// payload is the compact JSON
//
//	{"v":1,"eng":ID,"role":ROLE,"term":TID|"group:NAME","exp":UNIX_SECONDS,"cterm":TID,"nonce":HEX32}
//
// with exactly these keys in this order (what encoding/json writes for the
// claims; any other spelling is refused), cterm and nonce being the
// challenge's terminal id and upper-case hex nonce. The signature is
// Ed25519 over SignContext followed by the payload JSON bytes.
//
// A token is valid once: it names the challenge it answers, and the console
// keeps one outstanding challenge per prompt, replaced after every attempt.
package engauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"posd/conn/clock"
)

// Role is what a login may do on the console.
type Role string

// The roles of the console.
const (
	RoleEngineer  Role = "engineer"
	RoleCustodian Role = "custodian"
	RoleAdmin     Role = "admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleEngineer, RoleCustodian, RoleAdmin:
		return true
	}
	return false
}

const (
	// MaxTokenLen bounds a token's length in characters.
	MaxTokenLen = 1000
	// MaxIDLen bounds engineer ids, terminal ids and group names.
	MaxIDLen = 32
	// GroupPrefix marks a Claims.Terminal naming a fleet group.
	GroupPrefix = "group:"
	// ChallengePrefix starts the challenge the console prints.
	ChallengePrefix = "posd-login"
	// ChallengeLabel is the word before the challenge on the console's
	// line ("challenge: posd-login TID NONCE").
	ChallengeLabel = "challenge:"
	// SignContext separates the signed message from any other use of the
	// authority's key.
	SignContext = "posd engineer login token v1\x00"
	// DefaultMaxTTL is the longest token lifetime a Verifier accepts when
	// its MaxTTL is zero.
	DefaultMaxTTL = 24 * time.Hour

	// maxUnix keeps expiries within years 1970..9999.
	maxUnix = 253402300799
)

// validID reports whether s is 1..MaxIDLen printable ASCII characters
// without spaces.
func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validTerminalID: an id, and not one that reads as a group.
func validTerminalID(s string) bool {
	return validID(s) && !strings.HasPrefix(s, GroupPrefix)
}

// ValidGroup reports whether name is a fleet group name: 1..MaxIDLen
// printable ASCII characters without spaces or colons (as the terminal's
// parameters require).
func ValidGroup(name string) bool {
	return validID(name) && !strings.Contains(name, ":")
}

// validTarget: a terminal id or "group:NAME".
func validTarget(s string) bool {
	if name, ok := strings.CutPrefix(s, GroupPrefix); ok {
		return ValidGroup(name)
	}
	return validTerminalID(s)
}

// Challenge is what the console prints: terminal id and a fresh 16-byte
// nonce.
type Challenge struct {
	Terminal string
	Nonce    [16]byte
}

// NewChallenge draws a fresh nonce from rnd (nil: crypto/rand) for the
// terminal id (1..32 printable characters, no spaces, not "group:...").
func NewChallenge(terminal string, rnd io.Reader) (Challenge, error) {
	if !validTerminalID(terminal) {
		return Challenge{}, fmt.Errorf("%w: terminal id must be 1-%d printable characters without spaces", ErrMalformed, MaxIDLen)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	c := Challenge{Terminal: terminal}
	if _, err := io.ReadFull(rnd, c.Nonce[:]); err != nil {
		return Challenge{}, fmt.Errorf("%w: random source: %w", ErrKey, err)
	}
	return c, nil
}

// String is the one line the console prints:
// "posd-login TERMINAL NONCE" with the nonce in 32 upper-case hex digits.
func (c Challenge) String() string {
	return ChallengePrefix + " " + c.Terminal + " " + strings.ToUpper(hex.EncodeToString(c.Nonce[:]))
}

// ParseChallenge reads a challenge line as String writes it, or the
// console's whole line with ChallengeLabel before it (an engineer copies
// the line as the terminal program shows it). Surrounding whitespace and
// runs of spaces or tabs between the fields are accepted, and the
// "posd-login" word may be left out (but not after the label); the nonce
// may be in either case.
func ParseChallenge(s string) (Challenge, error) {
	if len(s) > 4*MaxIDLen+64 {
		return Challenge{}, fmt.Errorf("%w: challenge too long", ErrMalformed)
	}
	f := strings.Fields(s)
	if len(f) == 4 && f[0] == ChallengeLabel && f[1] == ChallengePrefix {
		f = f[1:]
	}
	if len(f) == 3 && f[0] == ChallengePrefix {
		f = f[1:]
	}
	if len(f) != 2 {
		return Challenge{}, fmt.Errorf("%w: challenge is %q TERMINAL NONCE", ErrMalformed, ChallengePrefix)
	}
	if !validTerminalID(f[0]) {
		return Challenge{}, fmt.Errorf("%w: challenge terminal id", ErrMalformed)
	}
	c := Challenge{Terminal: f[0]}
	if len(f[1]) != 2*len(c.Nonce) {
		return Challenge{}, fmt.Errorf("%w: challenge nonce must be %d hex digits", ErrMalformed, 2*len(c.Nonce))
	}
	if _, err := hex.Decode(c.Nonce[:], []byte(f[1])); err != nil {
		return Challenge{}, fmt.Errorf("%w: challenge nonce is not hex", ErrMalformed)
	}
	return c, nil
}

// equal compares two challenges.
func (c Challenge) equal(o Challenge) bool {
	return c.Terminal == o.Terminal && subtle.ConstantTimeCompare(c.Nonce[:], o.Nonce[:]) == 1
}

// Claims are what a token says.
type Claims struct {
	Engineer  string    // engineer id, 1-32 printable, no spaces
	Role      Role      // see Role.Valid; Parse returns unknown roles as read, Verify refuses them
	Terminal  string    // a terminal id, or "group:NAME" for a fleet group (see ValidGroup)
	Expiry    time.Time // whole seconds, UTC
	Challenge Challenge // the challenge it answers
}

// payload is the signed JSON; field order is part of the format.
type payload struct {
	V     int    `json:"v"`
	Eng   string `json:"eng"`
	Role  string `json:"role"`
	Term  string `json:"term"`
	Exp   int64  `json:"exp"`
	CTerm string `json:"cterm"`
	Nonce string `json:"nonce"`
}

const version = 1

var b64 = base64.RawURLEncoding.Strict()

// check validates the claims' fields (all but the role's value, which must
// only be a short printable word here).
func (c Claims) check() error {
	switch {
	case !validID(c.Engineer):
		return fmt.Errorf("%w: engineer id must be 1-%d printable characters without spaces", ErrMalformed, MaxIDLen)
	case !validID(string(c.Role)):
		return fmt.Errorf("%w: role", ErrMalformed)
	case !validTarget(c.Terminal):
		return fmt.Errorf("%w: terminal must be a terminal id or %sNAME", ErrMalformed, GroupPrefix)
	case c.Expiry.Unix() <= 0 || c.Expiry.Unix() > maxUnix:
		return fmt.Errorf("%w: expiry out of range", ErrMalformed)
	case !validTerminalID(c.Challenge.Terminal):
		return fmt.Errorf("%w: challenge terminal id", ErrMalformed)
	}
	return nil
}

// Sign makes a token for c under the authority's private key: one printable
// line shorter than MaxTokenLen (see the package comment for the format).
// The expiry is truncated to whole seconds. Sign refuses unknown roles
// (ErrRole), fields out of their rules (ErrMalformed) and a private key of
// the wrong size (ErrKey).
func Sign(priv ed25519.PrivateKey, c Claims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: private key must be %d bytes", ErrKey, ed25519.PrivateKeySize)
	}
	if err := c.check(); err != nil {
		return "", err
	}
	if !c.Role.Valid() {
		return "", fmt.Errorf("%w: must be %s, %s or %s", ErrRole, RoleEngineer, RoleCustodian, RoleAdmin)
	}
	msg, err := json.Marshal(payload{
		V:     version,
		Eng:   c.Engineer,
		Role:  string(c.Role),
		Term:  c.Terminal,
		Exp:   c.Expiry.Unix(),
		CTerm: c.Challenge.Terminal,
		Nonce: strings.ToUpper(hex.EncodeToString(c.Challenge.Nonce[:])),
	})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	sig := ed25519.Sign(priv, signed(msg))
	tok := b64.EncodeToString(msg) + "." + b64.EncodeToString(sig)
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("%w: token would be longer than %d characters", ErrMalformed, MaxTokenLen)
	}
	return tok, nil
}

// signed is the message the signature covers.
func signed(msg []byte) []byte {
	return append([]byte(SignContext), msg...)
}

// split decodes a token into its payload JSON, its signature and its
// claims, checking the format only.
func split(token string) (msg, sig []byte, c Claims, err error) {
	if len(token) > MaxTokenLen {
		return nil, nil, Claims{}, fmt.Errorf("%w: token longer than %d characters", ErrMalformed, MaxTokenLen)
	}
	p, s, ok := strings.Cut(token, ".")
	if !ok || p == "" || s == "" || strings.Contains(s, ".") {
		return nil, nil, Claims{}, fmt.Errorf("%w: token is PAYLOAD.SIGNATURE", ErrMalformed)
	}
	msg, err = b64.DecodeString(p)
	if err != nil {
		return nil, nil, Claims{}, fmt.Errorf("%w: token payload is not base64url", ErrMalformed)
	}
	sig, err = b64.DecodeString(s)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, Claims{}, fmt.Errorf("%w: token signature is not %d bytes of base64url", ErrMalformed, ed25519.SignatureSize)
	}
	var pl payload
	if err := json.Unmarshal(msg, &pl); err != nil {
		return nil, nil, Claims{}, fmt.Errorf("%w: token payload is not the expected JSON", ErrMalformed)
	}
	// One spelling only: what Sign writes (no unknown, duplicate,
	// re-cased or reordered keys, no spaces).
	if again, err := json.Marshal(pl); err != nil || !bytes.Equal(again, msg) {
		return nil, nil, Claims{}, fmt.Errorf("%w: token payload is not in canonical form", ErrMalformed)
	}
	if pl.V != version {
		return nil, nil, Claims{}, fmt.Errorf("%w: token version %d", ErrMalformed, pl.V)
	}
	if pl.Exp <= 0 || pl.Exp > maxUnix {
		return nil, nil, Claims{}, fmt.Errorf("%w: expiry out of range", ErrMalformed)
	}
	c = Claims{
		Engineer:  pl.Eng,
		Role:      Role(pl.Role),
		Terminal:  pl.Term,
		Expiry:    time.Unix(pl.Exp, 0).UTC(),
		Challenge: Challenge{Terminal: pl.CTerm},
	}
	if len(pl.Nonce) != 2*len(c.Challenge.Nonce) || strings.ToUpper(pl.Nonce) != pl.Nonce {
		return nil, nil, Claims{}, fmt.Errorf("%w: challenge nonce must be %d upper-case hex digits", ErrMalformed, 2*len(c.Challenge.Nonce))
	}
	if _, err := hex.Decode(c.Challenge.Nonce[:], []byte(pl.Nonce)); err != nil {
		return nil, nil, Claims{}, fmt.Errorf("%w: challenge nonce is not hex", ErrMalformed)
	}
	if err := c.check(); err != nil {
		return nil, nil, Claims{}, err
	}
	return msg, sig, c, nil
}

// Parse reads a token's claims WITHOUT verifying its signature, for
// messages (who tried to log in). Only the format is checked (ErrMalformed);
// an unknown role is returned as read. Never trust the result: use
// Verifier.Verify.
func Parse(token string) (Claims, error) {
	_, _, c, err := split(token)
	return c, err
}

// Verifier checks tokens on one terminal.
type Verifier struct {
	Key      ed25519.PublicKey // the pinned engineer authority
	Terminal string            // this terminal's id
	Groups   []string          // fleet groups this terminal belongs to
	Clock    clock.Clock       // nil: wall clock
	MaxTTL   time.Duration     // 0: DefaultMaxTTL; a token whose expiry is further away is refused
}

// Verify checks, in this order, the format (ErrMalformed), the signature
// under Key (ErrSignature; also when Key is not a 32-byte key), the role
// (ErrRole), the challenge, which must equal ch and be this terminal's
// (ErrChallenge), the terminal: this terminal's id or "group:NAME" with NAME
// in Groups (ErrTerminal), and the expiry: after now and at most MaxTTL
// ahead (ErrExpired). It returns the claims of a token that passes all, and
// zero Claims with an error otherwise.
func (v *Verifier) Verify(token string, ch Challenge) (Claims, error) {
	msg, sig, c, err := split(token)
	if err != nil {
		return Claims{}, err
	}
	if len(v.Key) != ed25519.PublicKeySize {
		return Claims{}, fmt.Errorf("%w: no usable engineer authority key pinned", ErrSignature)
	}
	if !ed25519.Verify(v.Key, signed(msg), sig) {
		return Claims{}, ErrSignature
	}
	if !c.Role.Valid() {
		return Claims{}, fmt.Errorf("%w: must be %s, %s or %s", ErrRole, RoleEngineer, RoleCustodian, RoleAdmin)
	}
	if ch.Terminal != v.Terminal || !c.Challenge.equal(ch) {
		return Claims{}, ErrChallenge
	}
	if !v.forUs(c.Terminal) {
		return Claims{}, ErrTerminal
	}
	now := clock.Or(v.Clock).Now()
	if !c.Expiry.After(now) {
		return Claims{}, fmt.Errorf("%w: expired", ErrExpired)
	}
	ttl := v.MaxTTL
	if ttl <= 0 {
		ttl = DefaultMaxTTL
	}
	if c.Expiry.Sub(now) > ttl {
		return Claims{}, fmt.Errorf("%w: expiry further ahead than %s", ErrExpired, ttl)
	}
	return c, nil
}

// forUs reports whether a token's terminal field names this terminal.
func (v *Verifier) forUs(target string) bool {
	if v.Terminal == "" {
		return false
	}
	if name, ok := strings.CutPrefix(target, GroupPrefix); ok {
		for _, g := range v.Groups {
			if g == name {
				return true
			}
		}
		return false
	}
	return target == v.Terminal
}
