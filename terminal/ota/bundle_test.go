package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseBundle(t *testing.T) {
	b, err := ParseBundle(bundleJSON(7))
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 7 || !b.Created.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("bundle %+v", b)
	}
	var h []string
	if err := json.Unmarshal(b.Sections.Hotlist, &h); err != nil || len(h) != 1 {
		t.Fatalf("hotlist %s: %v", b.Sections.Hotlist, err)
	}
	if !bytes.Contains(b.Sections.EMV, []byte("A0000000031010")) || b.Sections.Limits == nil || b.Sections.Host == nil || b.Sections.Risk == nil {
		t.Fatalf("sections %+v", b.Sections)
	}
	// Sections are optional one by one.
	if b, err := ParseBundle([]byte(`{"version":1,"created":"2026-03-01T10:00:00+08:00","sections":{"hotlist":[]}}`)); err != nil || b.Sections.EMV != nil {
		t.Fatalf("hotlist only: %+v %v", b, err)
	}
}

func TestParseBundleRefuses(t *testing.T) {
	ok := `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`
	if _, err := ParseBundle([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":             ``,
		"not an object":     `[1]`,
		"unknown member":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}},"extra":1}`,
		"unknown section":   `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{},"wifi":{}}}`,
		"other case":        `{"Version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"section case":      `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"EMV":{}}}`,
		"duplicate member":  `{"version":1,"version":2,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"duplicate deep":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{"a":1,"a":2}}}`,
		"version 0":         `{"version":0,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version negative":  `{"version":-3,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version fraction":  `{"version":1.5,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version string":    `{"version":"1","created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"version huge":      `{"version":99999999999999999999,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"no version":        `{"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`,
		"no created":        `{"version":1,"sections":{"emv":{}}}`,
		"created not 3339":  `{"version":1,"created":"1 March 2026","sections":{"emv":{}}}`,
		"no sections":       `{"version":1,"created":"2026-03-01T10:00:00Z"}`,
		"sections empty":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{}}`,
		"sections null":     `{"version":1,"created":"2026-03-01T10:00:00Z","sections":null}`,
		"section null":      `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":null}}`,
		"hotlist object":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":{}}}`,
		"emv array":         `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":[]}}`,
		"limits number":     `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"limits":5}}`,
		"bad host":          `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"host":{"addr":"nowhere"}}}`,
		"hotlist PAN":       `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":["4761739001010010"]}}`,
		"limits unknown":    `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"limits":{"floor":5000}}}`,
		"trailing data":     ok + `{}`,
		"trailing garbage":  ok + `x`,
		"truncated":         ok[:len(ok)-1],
		"nested too deep":   `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}}`,
		"too large":         `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{"x":"` + strings.Repeat("a", MaxBundle) + `"}}}`,
		"invalid utf8 name": "{\"version\":1,\"created\":\"2026-03-01T10:00:00Z\",\"sections\":{\"emv\":{}},\"\xff\":1}",
	} {
		b, err := ParseBundle([]byte(in))
		if err == nil || b != nil || !errors.Is(err, ErrBadBundle) {
			t.Errorf("%s: %+v, %v", name, b, err)
		}
	}
	if _, err := ParseBundle(make([]byte, MaxBundle+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}

// FuzzParseBundle: no input makes ParseBundle panic; what it accepts is
// within its rules and reads back the same from a re-encoding.
func FuzzParseBundle(f *testing.F) {
	f.Add(bundleJSON(1))
	f.Add(bundleJSON(2147483647))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":[]}}`))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00.123+08:00","sections":{"emv":{"a":[1,{"b":null}]},"limits":{}}}`))
	f.Add([]byte(`{"version":1,"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}}`))
	f.Add([]byte(`{"version":1,"created":"2026-03-01T10:00:00Z","sections":{"emv":{}}} `))
	f.Add([]byte(`{"sections":{"risk":{"r":[[[[[[]]]]]]}},"created":"2026-03-01T10:00:00Z","version":3}`))
	f.Add([]byte(`{"version":4,"created":"2026-03-01T10:00:00Z","sections":{"host":{"addr":"[::1]:8583"},"hotlist":["622588","62258800","622588"],"limits":{"max_amount":{"swipe":5000,"face":1},"offline":{"max_count":3}}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		if err != nil {
			if b != nil || !errors.Is(err, ErrBadBundle) {
				t.Fatalf("error %v with bundle %+v", err, b)
			}
			return
		}
		if b.Version < 1 || b.Created.IsZero() || len(in) > MaxBundle {
			t.Fatalf("accepted %+v", b)
		}
		s := b.Sections
		if s.EMV == nil && s.Risk == nil && s.Hotlist == nil && s.Host == nil && s.Limits == nil {
			t.Fatal("accepted a bundle without sections")
		}
		for _, raw := range []json.RawMessage{s.EMV, s.Risk, s.Hotlist, s.Host, s.Limits} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("section %q is not JSON", raw)
			}
		}
		checkSections(t, b)
		again, err := json.Marshal(map[string]any{"version": b.Version, "created": b.Created.Format(time.RFC3339Nano), "sections": s})
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ParseBundle(again)
		if err != nil || b2.Version != b.Version || !b2.Created.Equal(b.Created) {
			t.Fatalf("re-encoded %s: %+v %v", again, b2, err)
		}
	})
}

// checkSections holds what an accepted bundle's host, hotlist and limits
// sections promise: read whenever present, within their bounds.
func checkSections(t *testing.T, b *Bundle) {
	t.Helper()
	s := b.Sections
	if (s.Host == nil) != (b.Host == nil) || (s.Hotlist == nil) != (b.Hotlist == nil) || (s.Limits == nil) != (b.Limits == nil) {
		t.Fatalf("sections and their readings disagree: %+v", b)
	}
	if b.Host != nil {
		if err := checkHostPort(b.Host.Addr); err != nil {
			t.Fatalf("accepted host %q: %v", b.Host.Addr, err)
		}
	}
	if b.Hotlist != nil {
		for i, p := range b.Hotlist.Prefixes {
			if len(p) < MinHotlistPrefix || len(p) > MaxHotlistPrefix || !allDigits(p) || (i > 0 && b.Hotlist.Prefixes[i-1] >= p) {
				t.Fatalf("accepted hotlist %q", b.Hotlist.Prefixes)
			}
		}
	}
	if l := b.Limits; l != nil {
		for g, m := range map[string]map[string]int64{"max_amount": l.MaxAmount, "no_cvm_limit": l.NoCVMLimit, "offline": l.Offline, "velocity": l.Velocity} {
			for k, v := range m {
				count, ok := limitKeys[g][k]
				if !ok || v < 0 || v > maxLimitAmount || (count && v > maxLimitCount) {
					t.Fatalf("accepted limit %s.%s = %d", g, k, v)
				}
			}
		}
	}
}

func TestBundleSections(t *testing.T) {
	b, err := ParseBundle([]byte(`{"version":4,"created":"2026-03-01T10:00:00Z","sections":{
		"host":{"addr":"acquirer.example.net:8583"},
		"hotlist":["62258800","471234","62258800"],
		"limits":{"max_amount":{"swipe":5000,"face":100000},"no_cvm_limit":{"tap":30000},
		          "offline":{"floor_limit":0,"max_count":3,"max_amount":90000},"velocity":{"max_count":4}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Host.Addr != "acquirer.example.net:8583" {
		t.Errorf("host %+v", b.Host)
	}
	if strings.Join(b.Hotlist.Prefixes, ",") != "471234,62258800" {
		t.Errorf("hotlist %q", b.Hotlist.Prefixes)
	}
	l := b.Limits
	if l.MaxAmount["swipe"] != 5000 || l.MaxAmount["face"] != 100000 || len(l.MaxAmount) != 2 || l.NoCVMLimit["tap"] != 30000 ||
		l.Offline["max_count"] != 3 || l.Offline["floor_limit"] != 0 || l.Velocity["max_count"] != 4 {
		t.Errorf("limits %+v", l)
	}
	// An empty hotlist clears the list; empty limits change nothing.
	b, err = ParseBundle([]byte(`{"version":5,"created":"2026-03-01T10:00:00Z","sections":{"hotlist":[],"limits":{}}}`))
	if err != nil || b.Hotlist == nil || len(b.Hotlist.Prefixes) != 0 || b.Limits == nil {
		t.Fatalf("empty sections: %+v %v", b, err)
	}
	for _, addr := range []string{"127.0.0.1:8583", "[::1]:1", "host-1.example:65535", "LOCALHOST:9"} {
		if _, err := ParseHost(fmt.Appendf(nil, `{"addr":%q}`, addr)); err != nil {
			t.Errorf("host %q refused: %v", addr, err)
		}
	}
	for name, in := range map[string]string{
		"no addr":         `{}`,
		"addr number":     `{"addr":8583}`,
		"no port":         `{"addr":"127.0.0.1"}`,
		"port 0":          `{"addr":"127.0.0.1:0"}`,
		"port too big":    `{"addr":"127.0.0.1:65536"}`,
		"port name":       `{"addr":"127.0.0.1:http"}`,
		"port padded":     `{"addr":"127.0.0.1:08583"}`,
		"empty host":      `{"addr":":8583"}`,
		"bad name":        `{"addr":"host_1:8583"}`,
		"name with space": `{"addr":"a b:8583"}`,
		"url":             `{"addr":"tcp://127.0.0.1:8583"}`,
		"zone":            `{"addr":"[fe80::1%eth0]:8583"}`,
		"label hyphen":    `{"addr":"-a.example:1"}`,
		"numeric name":    `{"addr":"1.2.3:1"}`,
		"other member":    `{"addr":"127.0.0.1:1","timeout":"5s"}`,
		"other case":      `{"Addr":"127.0.0.1:1"}`,
		"array":           `["127.0.0.1:1"]`,
	} {
		if h, err := ParseHost([]byte(in)); err == nil {
			t.Errorf("host %s: accepted %+v", name, h)
		}
	}
	for name, in := range map[string]string{
		"object":       `{"prefix":"622588"}`,
		"short":        `["62258"]`,
		"a PAN":        `["4761739001010010"]`,
		"nine digits":  `["622588001"]`,
		"letters":      `["62258A"]`,
		"number":       `[622588]`,
		"null":         `null`,
		"null entry":   `[null]`,
		"nested array": `[["622588"]]`,
	} {
		h, err := ParseHotlist([]byte(in))
		if err == nil {
			t.Errorf("hotlist %s: accepted %+v", name, h)
		} else if strings.Contains(err.Error(), "4761739001010010") {
			t.Errorf("hotlist %s: the error shows the card number: %v", name, err)
		}
	}
	for name, in := range map[string]string{
		"unknown group":   `{"max":{}}`,
		"unknown key":     `{"offline":{"floor":1}}`,
		"switch":          `{"offline":{"enabled":false}}`,
		"currency":        `{"currency":"USD"}`,
		"other case":      `{"Max_Amount":{"swipe":1}}`,
		"key case":        `{"max_amount":{"Swipe":1}}`,
		"negative":        `{"max_amount":{"swipe":-1}}`,
		"fraction":        `{"max_amount":{"swipe":1.5}}`,
		"exponent":        `{"max_amount":{"swipe":1e3}}`,
		"string":          `{"max_amount":{"swipe":"5000"}}`,
		"over DE4":        `{"max_amount":{"swipe":1000000000000}}`,
		"count too big":   `{"velocity":{"max_count":1000001}}`,
		"group not obj":   `{"velocity":5}`,
		"null group":      `{"velocity":null}`,
		"duplicate key":   `{"velocity":{"max_count":1,"max_count":2}}`,
		"duplicate group": `{"velocity":{},"velocity":{}}`,
		"array":           `[]`,
	} {
		if l, err := ParseLimits([]byte(in)); err == nil {
			t.Errorf("limits %s: accepted %+v", name, l)
		}
	}
}

// FuzzBundleSections puts arbitrary bytes in the host, hotlist or limits
// section of an otherwise good bundle: never a panic, never an accepted
// section outside its rules, never a card number in an error.
func FuzzBundleSections(f *testing.F) {
	for _, s := range []string{`{"addr":"127.0.0.1:8583"}`, `["622588","47617300"]`, `{"max_amount":{"swipe":5000},"offline":{"max_count":3}}`,
		`{"addr":"[::1]:1"}`, `["4761739001010010"]`, `{"velocity":{"max_count":1e2}}`, `{"addr":"a.b-c:65535"}`} {
		for w := range 3 {
			f.Add(uint8(w), []byte(s))
		}
	}
	names := []string{"host", "hotlist", "limits"}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		name := names[int(which)%len(names)]
		in := fmt.Appendf(nil, `{"version":1,"created":"2026-03-01T10:00:00Z","sections":{%q:%s}}`, name, raw)
		b, err := ParseBundle(in)
		if err != nil {
			if b != nil || !errors.Is(err, ErrBadBundle) {
				t.Fatalf("error %v with bundle %+v", err, b)
			}
			if strings.Contains(err.Error(), "4761739001010010") {
				t.Fatalf("error shows a card number: %v", err)
			}
			return
		}
		checkSections(t, b)
	})
}
