package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
)

// The sections a bundle carries besides "emv" and "risk" (whose formats
// are the EMV kernel's and the risk rules', read by the daemon). ParseBundle
// reads these three itself: a bundle with one that does not read is
// refused whole, before anything of it is used.

// HostParams is the "host" section: where the acquirer's host is.
//
//	"host": {"addr": "203.0.113.7:8583"}
//
// addr is host:port: an IP address (v4, or v6 in brackets) or a DNS name,
// and a port from 1 to 65535. The terminal connects there from its next
// connection on (an exchange under way finishes where it started).
type HostParams struct {
	Addr string
}

// HotlistParams is the "hotlist" section: the card ranges the acquirer
// blocks on every terminal of the group.
//
//	"hotlist": ["62258800", "471234"]
//
// Each entry is an issuer identification number (BIN) prefix of
// MinHotlistPrefix to MaxHotlistPrefix digits: every card whose number
// starts with it is refused (risk rule "hotlist"). A bundle serves a
// group of terminals, so it cannot carry the per-terminal keyed hashes of
// single cards (risk.BuildHotlist: only the terminal knows its hash
// key), and it never carries card numbers: a prefix is at most as long as
// the first digits a masked PAN shows. An empty array clears the list.
// Prefixes are kept sorted, without duplicates.
type HotlistParams struct {
	Prefixes []string
}

// Bounds of the hotlist section.
const (
	MinHotlistPrefix  = 6
	MaxHotlistPrefix  = 8
	MaxHotlistEntries = 100000
)

// Limits is the "limits" section: the risk rules' amount and count
// limits (the other rules, and switches such as offline.enabled, are the
// "risk" section's). Amounts are in minor units of the rules' currency,
// counts are counts; a key absent keeps its value.
//
//	"limits": {
//	  "max_amount":   {"swipe": N, "insert": N, "tap": N, "qr": N, "face": N},
//	  "no_cvm_limit": {"swipe": N, "insert": N, "tap": N},
//	  "offline":      {"floor_limit": N, "max_count": N, "max_amount": N},
//	  "velocity":     {"max_count": N, "max_amount": N}
//	}
//
// Each group maps its keys to their values. The terminal merges them over
// its rules and validates the result as it validates its configuration
// (risk.Rules.Validate).
type Limits struct {
	MaxAmount  map[string]int64
	NoCVMLimit map[string]int64
	Offline    map[string]int64
	Velocity   map[string]int64
}

// Bounds of the limits section's values: amounts fit DE4 (12 digits),
// counts are the risk rules' bounds.
const (
	maxLimitAmount = 999_999_999_999
	maxLimitCount  = 1_000_000
)

// limitKeys are the limits section's groups and, per key, whether it is
// a count (else an amount).
var limitKeys = map[string]map[string]bool{
	"max_amount":   {"swipe": false, "insert": false, "tap": false, "qr": false, "face": false},
	"no_cvm_limit": {"swipe": false, "insert": false, "tap": false},
	"offline":      {"floor_limit": false, "max_count": true, "max_amount": false},
	"velocity":     {"max_count": true, "max_amount": false},
}

// ParseHost reads a "host" section. Errors say what is wrong.
func ParseHost(raw []byte) (*HostParams, error) {
	m, err := exactObject(raw, map[string]bool{"addr": true})
	if err != nil {
		return nil, err
	}
	var addr string
	if err := strictDecode(m["addr"], &addr); err != nil || m["addr"] == nil {
		return nil, errors.New("addr must be a string host:port")
	}
	if err := checkHostPort(addr); err != nil {
		return nil, fmt.Errorf("addr %s: %w", quoteShort(addr), err)
	}
	return &HostParams{Addr: addr}, nil
}

// checkHostPort accepts host:port with an IP address or a DNS name and a
// port from 1 to 65535.
func checkHostPort(addr string) error {
	if len(addr) > 261 {
		return errors.New("too long")
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || strconv.Itoa(port) != p {
		return errors.New("port must be 1 to 65535")
	}
	if net.ParseIP(h) != nil && !strings.Contains(h, "%") {
		if strings.Contains(h, ":") && !strings.HasPrefix(addr, "[") {
			return errors.New("an IPv6 address goes in brackets")
		}
		return nil
	}
	if !dnsName(h) {
		return errors.New("host is neither an IP address nor a DNS name")
	}
	return nil
}

// dnsName reports whether h is a DNS host name: labels of 1 to 63
// letters, digits and hyphens (not at either end), 253 characters at most,
// not all digits and dots.
func dnsName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	alpha := false
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				alpha = true
			case c >= '0' && c <= '9':
			default:
				return false
			}
		}
	}
	return alpha
}

// ParseHotlist reads a "hotlist" section. Errors name an entry by its
// position, never its digits.
func ParseHotlist(raw []byte) (*HotlistParams, error) {
	var entries []json.RawMessage
	if err := strictDecode(raw, &entries); err != nil || entries == nil {
		return nil, errors.New("not an array of BIN prefixes")
	}
	if len(entries) > MaxHotlistEntries {
		return nil, fmt.Errorf("%d entries, at most %d", len(entries), MaxHotlistEntries)
	}
	seen := make(map[string]bool, len(entries))
	out := make([]string, 0, len(entries))
	for i, e := range entries {
		var s string
		if err := strictDecode(e, &s); err != nil {
			return nil, fmt.Errorf("entry %d is not a string", i)
		}
		if len(s) < MinHotlistPrefix || len(s) > MaxHotlistPrefix || !allDigits(s) {
			return nil, fmt.Errorf("entry %d is not a BIN prefix of %d to %d digits (card numbers are never sent)", i, MinHotlistPrefix, MaxHotlistPrefix)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return &HotlistParams{Prefixes: out}, nil
}

// ParseLimits reads a "limits" section: only the groups and keys it
// documents, exactly so named, each value a whole number in range.
func ParseLimits(raw []byte) (*Limits, error) {
	allowed := map[string]bool{}
	for g := range limitKeys {
		allowed[g] = true
	}
	top, err := exactObject(raw, allowed)
	if err != nil {
		return nil, err
	}
	l := &Limits{}
	for g, graw := range top {
		keys := map[string]bool{}
		for k := range limitKeys[g] {
			keys[k] = true
		}
		m, err := exactObject(graw, keys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		vals := make(map[string]int64, len(m))
		for k, v := range m {
			var n json.Number
			if t := bytes.TrimLeft(v, " \t\r\n"); len(t) == 0 || t[0] == '"' || strictDecode(v, &n) != nil {
				return nil, fmt.Errorf("%s.%s is not a number", g, k)
			}
			x, err := strconv.ParseInt(n.String(), 10, 64)
			bound := int64(maxLimitAmount)
			if limitKeys[g][k] {
				bound = maxLimitCount
			}
			if err != nil || x < 0 || x > bound {
				return nil, fmt.Errorf("%s.%s must be a whole number from 0 to %d", g, k, bound)
			}
			vals[k] = x
		}
		switch g {
		case "max_amount":
			l.MaxAmount = vals
		case "no_cvm_limit":
			l.NoCVMLimit = vals
		case "offline":
			l.Offline = vals
		case "velocity":
			l.Velocity = vals
		}
	}
	return l, nil
}

// exactObject reads a JSON object whose member names must be in allowed,
// exactly (encoding/json alone would take other cases of them), each
// once.
func exactObject(raw []byte, allowed map[string]bool) (map[string]json.RawMessage, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	if err := checkExactMembers(raw, allowed); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := strictDecode(raw, &m); err != nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// checkExactMembers checks the member names of the object raw, which
// must be in allowed and appear once each.
func checkExactMembers(raw []byte, allowed map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		if !allowed[k] {
			return fmt.Errorf("unknown member %s", quoteShort(k))
		}
		if seen[k] {
			return fmt.Errorf("member %q twice", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// strictDecode decodes one JSON value and nothing after it, numbers as
// json.Number.
func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the value")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// quoteShort quotes s for an error, cut short, and not at all when it
// could be card data (more than 8 digits).
func quoteShort(s string) string {
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	if digits > 8 && !strings.ContainsAny(s, ".:") {
		return fmt.Sprintf("(%d characters, not shown)", len(s))
	}
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
