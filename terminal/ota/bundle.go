package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxBundle bounds a parameter bundle.
const MaxBundle = 1 << 20

// maxBundleDepth bounds the nesting of a bundle's JSON.
const maxBundleDepth = 32

// Bundle is a parameter bundle: the acquirer's parameters for the
// terminal's group, delivered as a "params/..." target. Each section is
// kept as raw JSON for the daemon to apply with its own parser; a nil
// section is not part of the bundle.
type Bundle struct {
	Version  int
	Created  time.Time
	Sections Sections
	// Host, Hotlist and Limits are the sections of those names as read
	// (ParseHost, ParseHotlist, ParseLimits); nil when absent.
	Host    *HostParams
	Hotlist *HotlistParams
	Limits  *Limits
}

// Sections of a bundle: objects, but the hotlist, an array.
type Sections struct {
	EMV     json.RawMessage `json:"emv,omitempty"`     // AIDs, CA keys, kernel settings
	Risk    json.RawMessage `json:"risk,omitempty"`    // risk rules
	Hotlist json.RawMessage `json:"hotlist,omitempty"` // blocked card ranges (HotlistParams)
	Host    json.RawMessage `json:"host,omitempty"`    // the acquirer host's address (HostParams)
	Limits  json.RawMessage `json:"limits,omitempty"`  // amount and count limits (Limits)
}

// bundleKeys are the exact member names allowed at the top level and in
// sections (encoding/json alone would also take other cases of them).
var (
	topKeys     = map[string]bool{"version": true, "created": true, "sections": true}
	sectionKeys = map[string]bool{"emv": true, "risk": true, "hotlist": true, "host": true, "limits": true}
)

// ParseBundle reads a bundle:
//
//	{"version": N, "created": "RFC 3339 time", "sections": {"emv": {...},
//	 "risk": {...}, "hotlist": [...], "host": {...}, "limits": {...}}}
//
// strictly: at most MaxBundle bytes, one JSON object and nothing after it,
// no member unknown or duplicated (at any depth), no name in another case,
// nesting at most 32 deep, version ≥ 1, created an RFC 3339 time, at least
// one section, each of its kind (hotlist an array, the others objects),
// and the host, hotlist and limits sections as ParseHost, ParseHotlist and
// ParseLimits read them. Errors match ErrBadBundle (ErrTooLarge too when
// it is too large) and name the section that does not read.
func ParseBundle(b []byte) (*Bundle, error) {
	if len(b) > MaxBundle {
		return nil, fmt.Errorf("%w: %w: %d bytes, at most %d", ErrBadBundle, ErrTooLarge, len(b), MaxBundle)
	}
	if err := checkMembers(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	var w struct {
		Version  *int      `json:"version"`
		Created  *string   `json:"created"`
		Sections *Sections `json:"sections"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	switch {
	case w.Version == nil:
		return nil, fmt.Errorf("%w: no version", ErrBadBundle)
	case *w.Version < 1:
		return nil, fmt.Errorf("%w: version %d < 1", ErrBadBundle, *w.Version)
	case w.Created == nil:
		return nil, fmt.Errorf("%w: no created time", ErrBadBundle)
	case w.Sections == nil:
		return nil, fmt.Errorf("%w: no sections", ErrBadBundle)
	}
	created, err := time.Parse(time.RFC3339, *w.Created)
	if err != nil {
		return nil, fmt.Errorf("%w: created: %w", ErrBadBundle, err)
	}
	s := *w.Sections
	n := 0
	for _, sec := range []struct {
		name  string
		raw   json.RawMessage
		array bool
	}{{"emv", s.EMV, false}, {"risk", s.Risk, false}, {"hotlist", s.Hotlist, true}, {"host", s.Host, false}, {"limits", s.Limits, false}} {
		if sec.raw == nil {
			continue
		}
		n++
		want := byte('{')
		if sec.array {
			want = '['
		}
		if t := bytes.TrimLeft(sec.raw, " \t\r\n"); len(t) == 0 || t[0] != want {
			return nil, fmt.Errorf("%w: section %s is not a JSON %s", ErrBadBundle, sec.name, map[bool]string{true: "array", false: "object"}[sec.array])
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no section", ErrBadBundle)
	}
	out := &Bundle{Version: *w.Version, Created: created, Sections: s}
	if s.Host != nil {
		if out.Host, err = ParseHost(s.Host); err != nil {
			return nil, fmt.Errorf("%w: host section: %w", ErrBadBundle, err)
		}
	}
	if s.Hotlist != nil {
		if out.Hotlist, err = ParseHotlist(s.Hotlist); err != nil {
			return nil, fmt.Errorf("%w: hotlist section: %w", ErrBadBundle, err)
		}
	}
	if s.Limits != nil {
		if out.Limits, err = ParseLimits(s.Limits); err != nil {
			return nil, fmt.Errorf("%w: limits section: %w", ErrBadBundle, err)
		}
	}
	return out, nil
}

// checkMembers walks the JSON tokens of b: one value and nothing after it,
// no duplicate member at any depth, nesting bounded, and only the known
// member names, exactly, at the top and in sections.
func checkMembers(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := walkObject(dec, 1, topKeys); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the bundle")
	}
	return nil
}

// walkObject reads the members of an object whose '{' was read, up to its
// '}'. allowed, when not nil, is the set of member names it may have.
func walkObject(dec *json.Decoder, depth int, allowed map[string]bool) error {
	if depth > maxBundleDepth {
		return errors.New("nested too deep")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, ok := tok.(string)
		if !ok {
			return errors.New("member name is not a string")
		}
		if seen[k] {
			return fmt.Errorf("member %q twice", k)
		}
		seen[k] = true
		if allowed != nil && !allowed[k] {
			return fmt.Errorf("unknown member %q", k)
		}
		var next map[string]bool
		if depth == 1 && k == "sections" {
			next = sectionKeys
		}
		if err := walkValue(dec, depth, next); err != nil {
			return err
		}
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '}' {
		return errors.New("unterminated object")
	}
	return nil
}

// walkValue reads one value; allowed applies if it is an object.
func walkValue(dec *json.Decoder, depth int, allowed map[string]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1, allowed)
	case '[':
		if depth+1 > maxBundleDepth {
			return errors.New("nested too deep")
		}
		for dec.More() {
			if err := walkValue(dec, depth+1, nil); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		return nil
	}
	return errors.New("unexpected delimiter")
}
