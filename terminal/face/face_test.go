package face

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseChallenge(t *testing.T) {
	for in, want := range map[string]Challenge{"": None, "none": None, " Blink ": Blink, "LEFT": Left, "right": Right, "closer": Closer} {
		got, err := ParseChallenge(in)
		if err != nil || got != want {
			t.Errorf("ParseChallenge(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"smile", "blinkk", "left right", strings.Repeat("x", 100)} {
		_, err := ParseChallenge(in)
		if !errors.Is(err, ErrChallenge) {
			t.Errorf("ParseChallenge(%q): %v, want ErrChallenge", in, err)
		}
		if len(err.Error()) > 120 {
			t.Errorf("error too long: %d bytes", len(err.Error()))
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{"", "blink", "LEFT", " closer", "none", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil {
			if !errors.Is(err, ErrChallenge) || c != "" {
				t.Fatalf("%q: %q, %v", s, c, err)
			}
			return
		}
		again, err := ParseChallenge(string(c))
		if err != nil || again != c {
			t.Fatalf("%q parsed to %q which parses to %q, %v", s, c, again, err)
		}
	})
}

func TestRandomChallengeUniform(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r := bytes.NewReader(all)
	count := map[Challenge]int{}
	for range all {
		c, err := RandomChallenge(r)
		if err != nil {
			t.Fatal(err)
		}
		count[c]++
	}
	if len(count) != 4 {
		t.Fatalf("drew %v", count)
	}
	for c, n := range count {
		if n != 64 {
			t.Errorf("%s drawn for %d of the 256 byte values, want 64", c, n)
		}
		if c == None {
			t.Error("None drawn")
		}
	}
	if _, err := RandomChallenge(iotest.ErrReader(errors.New("boom"))); !errors.Is(err, ErrRand) {
		t.Errorf("failing reader: %v", err)
	}
	if _, err := RandomChallenge(nil); !errors.Is(err, ErrRand) {
		t.Errorf("nil reader: %v", err)
	}
}

func TestPrompt(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range []Challenge{None, Blink, Left, Right, Closer} {
		en, zh := c.Prompt()
		if en == "" || zh == "" || seen[en] || seen[zh] {
			t.Errorf("%s: %q %q", c, en, zh)
		}
		seen[en], seen[zh] = true, true
	}
	if en, _ := Blink.Prompt(); en != "Please blink" {
		t.Errorf("blink: %q", en)
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Decision: Live, Challenge: Blink, Scores: map[string]float64{"challenge": 1}, Reasons: []string{},
		Frames: 30, Video: time.Second, VideoMS: 1000}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["video_ms"] != 1000.0 || m["decision"] != "live" || m["challenge"] != "blink" || m["frames"] != 30.0 {
		t.Errorf("%s", b)
	}
	// The daemon embeds Result next to fields of its own.
	type view struct {
		Result
		MS int64 `json:"ms"`
	}
	b, _ = json.Marshal(view{Result: r, MS: 5})
	if !strings.Contains(string(b), `"ms":5`) || !strings.Contains(string(b), `"video_ms":1000`) {
		t.Errorf("embedded: %s", b)
	}
}

func TestThresholdsJSON(t *testing.T) {
	th := DefaultThresholds
	if err := json.Unmarshal([]byte(`{"moire": 9.5, "closer_growth": 0.3}`), &th); err != nil {
		t.Fatal(err)
	}
	if th.Moire != 9.5 || th.CloserGrowth != 0.3 || th.MinFaceFrac != DefaultThresholds.MinFaceFrac {
		t.Errorf("%+v", th)
	}
	b, _ := json.Marshal(DefaultThresholds)
	for _, k := range []string{"min_face_frac", "min_sharpness", "blink_drop", "closer_growth", "flat", "moire", "border", "ir_share"} {
		if !strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("no %s in %s", k, b)
		}
	}
}

func TestOptsDefaults(t *testing.T) {
	o := Opts{}.withDefaults()
	if o.CascadeDir != DefaultCascadeDir || o.Thresholds != DefaultThresholds || o.FPS != 30 || o.MaxFrames != 120 || o.Logger == nil {
		t.Errorf("%+v", o)
	}
}

// TestParseThresholds: keys over the defaults; an unknown key or a value
// out of range is refused, naming the key (a typo must not weaken the
// check silently).
func TestParseThresholds(t *testing.T) {
	if err := DefaultThresholds.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	th, err := ParseThresholds([]byte(`{"moire": 9.5, "min_frames": 8}`))
	if err != nil || th.Moire != 9.5 || th.MinFrames != 8 || th.Flat != DefaultThresholds.Flat {
		t.Errorf("%+v %v", th, err)
	}
	if th, err := ParseThresholds(nil); err != nil || th != DefaultThresholds {
		t.Errorf("empty: %v", err)
	}
	for in, key := range map[string]string{
		`{"flatt": 0.2}`:                             "flatt",
		`{"border": 1.5}`:                            "border",
		`{"min_face_frac": 0}`:                       "min_face_frac",
		`{"min_frames": 0}`:                          "min_frames",
		`{"min_exposure": 200, "max_exposure": 100}`: "min_exposure",
		`{"ir_share": -0.1}`:                         "ir_share",
		`{"moire": 9} {}`:                            "trailing",
		`[1]`:                                        "cannot unmarshal",
	} {
		_, err := ParseThresholds([]byte(in))
		if !errors.Is(err, ErrThresholds) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", in, err)
		}
	}
}
