package risk

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultRules(t *testing.T) {
	r := DefaultRules()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// What the issue and the market fix: contactless without CVM up to
	// 1000.00 CNY, face pay at most 1000.00 a transaction, offline
	// approvals at most a day old, no magstripe offline.
	switch {
	case r.Currency != "CNY":
		t.Errorf("currency %q", r.Currency)
	case r.CVM.NoCVMLimit != CardAmounts{Tap: 100000}:
		t.Errorf("no-CVM limits %+v", r.CVM.NoCVMLimit)
	case r.MaxAmount.Face != 100000:
		t.Errorf("face limit %d", r.MaxAmount.Face)
	case time.Duration(r.Offline.MaxAge) != 24*time.Hour:
		t.Errorf("offline max age %s", time.Duration(r.Offline.MaxAge))
	case r.Offline.Magstripe:
		t.Error("magstripe offline on by default")
	case !r.Hotlist.Enabled || r.Hotlist.Required || !r.Velocity.Enabled || !r.Offline.Enabled:
		t.Errorf("rules enabled: %+v", r)
	}
}

func TestParseRulesOverDefaults(t *testing.T) {
	r, err := ParseRules([]byte(`{"velocity": {"max_count": 3, "window": "90m"}, "offline": {"magstripe": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultRules()
	want.Velocity.MaxCount = 3
	want.Velocity.Window = Duration(90 * time.Minute)
	want.Offline.Magstripe = true
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if r, err := ParseRules([]byte(" {} \n")); err != nil || !reflect.DeepEqual(r, DefaultRules()) {
		t.Errorf("empty object: %+v, %v", r, err)
	}
}

func TestRulesJSONRoundTrip(t *testing.T) {
	r := DefaultRules()
	r.MaxAmount = ModeAmounts{Swipe: 1, Insert: 2, Tap: 3, QR: 4, Face: 5}
	r.Velocity.Window = Duration(36*time.Hour + 5*time.Second)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"window":"36h0m5s"`) {
		t.Errorf("window not written as a duration: %s", b)
	}
	back, err := ParseRules(b)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestParseRulesRefuses(t *testing.T) {
	for _, c := range []struct {
		in, key string // key "" when the error names no key
	}{
		{`{"velocity": {"max_cnt": 3}}`, ""},
		{`{"currency": "CNY"} {}`, ""},
		{`{"currency": "CNY"} x`, ""},
		{`null`, ""},
		{`[]`, ""},
		{``, ""},
		{`{"velocity": {"max_count": "3"}}`, ""},
		{`{"velocity": {"window": "soon"}}`, "velocity.window"},
		{`{"velocity": {"window": 24}}`, "velocity.window"},
		{`{"offline": {"max_age": "1 day"}}`, "offline.max_age"},
		{`{"currency": "XXX"}`, "currency"},
		{`{"velocity": {"window": "0s"}}`, "velocity.window"},
		{`{"velocity": {"window": "-1h"}}`, "velocity.window"},
		{`{"velocity": {"window": "9000h"}}`, "velocity.window"},
		{`{"velocity": {"max_count": -1}}`, "velocity.max_count"},
		{`{"velocity": {"max_count": 0, "max_amount": 0}}`, "velocity"},
		{`{"velocity": {"max_amount": 1000000000000}}`, "velocity.max_amount"},
		{`{"cvm": {"no_cvm_limit": {"tap": -5}}}`, "cvm.no_cvm_limit.tap"},
		{`{"max_amount": {"face": -1}}`, "max_amount.face"},
		{`{"max_amount": {"face": 0}}`, "max_amount.face"}, // face pay always has a limit
		{`{"max_amount": {"qr": 1000000000000}}`, "max_amount.qr"},
		{`{"offline": {"max_count": 0}}`, "offline.max_count"},
		{`{"offline": {"max_amount": 0}}`, "offline.max_amount"},
		{`{"offline": {"max_age": "0s"}}`, "offline.max_age"},
		{`{"offline": {"floor_limit": -1}}`, "offline.floor_limit"},
		{`{"hotlist": {"enabled": false, "required": true}}`, "hotlist.required"},
	} {
		_, err := ParseRules([]byte(c.in))
		if !errors.Is(err, ErrRules) {
			t.Errorf("%s: accepted or wrong error: %v", c.in, err)
			continue
		}
		var re *RulesError
		if c.key != "" && (!errors.As(err, &re) || re.Key != c.key) {
			t.Errorf("%s: error %q does not name %s", c.in, err, c.key)
		}
	}
	// Disabled parts need no positive limits.
	if _, err := ParseRules([]byte(`{"velocity": {"enabled": false, "window": "0s", "max_count": 0, "max_amount": 0},
		"offline": {"enabled": false, "max_count": 0, "max_amount": 0, "max_age": "0s"}}`)); err != nil {
		t.Errorf("disabled parts: %v", err)
	}
}

// FuzzParseRules: no input makes the parser panic; what it accepts
// validates and survives a round trip.
func FuzzParseRules(f *testing.F) {
	def, _ := json.Marshal(DefaultRules())
	f.Add(def)
	f.Add([]byte(`{"velocity": {"window": "90m", "max_count": 3}, "offline": {"magstripe": true}}`))
	f.Add([]byte(`{"max_amount": {"swipe": 1, "qr": 2}, "cvm": {"no_cvm_limit": {"tap": 30000}}}`))
	f.Add([]byte(`{"offline": {"max_age": "x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRules(b)
		if err != nil {
			if !errors.Is(err, ErrRules) {
				t.Fatalf("error not ErrRules: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted rules do not validate: %v", err)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRules(enc)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}
