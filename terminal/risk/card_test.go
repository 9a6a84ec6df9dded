package risk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// testKey is 00 01 ... 1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// TestCardIsKeyedHash: the card id is HMAC-SHA-256 of the PAN's digits
// under the key. The expected values come from another implementation
// (Python's hmac module), so the acquirer can build hotlists without posd.
func TestCardIsKeyedHash(t *testing.T) {
	h, err := NewHasher(testKey())
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.Card([]byte("4761739001010010"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id[:]); got != "6e02943edbe27feda07468363fa86db0bd750d0607182fd9c858b5d3a6ddae79" {
		t.Errorf("card id %s", got)
	}
	if h.KCV() != "051bbf90" {
		t.Errorf("kcv %s", h.KCV())
	}
	// Same PAN again (pooled state reset), another key, another PAN.
	again, _ := h.Card([]byte("4761739001010010"))
	other, _ := NewHasher(append(testKey(), 0x20))
	id2, _ := other.Card([]byte("4761739001010010"))
	id3, _ := h.Card([]byte("4761739001010011"))
	if again != id || id2 == id || id3 == id || other.KCV() == h.KCV() {
		t.Error("card ids do not depend on exactly the key and the PAN")
	}
}

func TestHasherCopiesKey(t *testing.T) {
	k := testKey()
	h, _ := NewHasher(k)
	before, _ := h.Card([]byte("6222021234567890123"))
	clear(k)
	after, _ := h.Card([]byte("6222021234567890123"))
	if before != after {
		t.Error("wiping the caller's key changed the hasher")
	}
}

func TestHasherRefuses(t *testing.T) {
	for _, n := range []int{0, 8, MinHashKeyLen - 1} {
		if _, err := NewHasher(make([]byte, n)); !errors.Is(err, ErrHashKey) {
			t.Errorf("key of %d bytes: %v", n, err)
		}
	}
	h, _ := NewHasher(testKey())
	for _, pan := range []string{"", "47617390010", "47617390010100101234", "4761 7390 0101 0010", "476173900101001a", "４761739001010010", "4761739001010010\n"} {
		_, err := h.Card([]byte(pan))
		if !errors.Is(err, ErrPAN) {
			t.Errorf("PAN %q accepted: %v", pan, err)
			continue
		}
		if len(pan) >= 4 && strings.Contains(err.Error(), pan[len(pan)-4:]) {
			t.Errorf("error %q shows digits of the PAN", err)
		}
	}
	for _, pan := range []string{"476173900101", "4761739001010010123"} {
		if _, err := h.Card([]byte(pan)); err != nil {
			t.Errorf("PAN of %d digits: %v", len(pan), err)
		}
	}
}

// TestCardIDNeverPrinted: whatever verb or logger prints a card id, its
// bytes do not appear.
func TestCardIDNeverPrinted(t *testing.T) {
	h, _ := NewHasher(testKey())
	id, _ := h.Card([]byte("4761739001010010"))
	d := Decision{Rule: RuleHotlist, Card: id}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		fmt.Fprintf(&out, verb+"\n", id)
		fmt.Fprintf(&out, verb+"\n", d)
	}
	fmt.Fprintln(&out, id.String())
	for _, hd := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		slog.New(hd).Info("x", "card", id, "decision", d)
	}
	s := strings.ToLower(out.String())
	hx := hex.EncodeToString(id[:])
	if strings.Contains(s, hx[:8]) || strings.Contains(s, fmt.Sprint(id[0])+" "+fmt.Sprint(id[1])) {
		t.Errorf("card id printed:\n%s", out.String())
	}
	if !strings.Contains(s, "[card id]") {
		t.Errorf("placeholder missing:\n%s", out.String())
	}
}

func TestHasherConcurrent(t *testing.T) {
	h, _ := NewHasher(testKey())
	want := map[string]CardID{}
	pans := []string{"4761739001010010", "6222021234567890123", "5413330089020011"}
	for _, p := range pans {
		want[p], _ = h.Card([]byte(p))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				p := pans[(g+i)%len(pans)]
				if got, _ := h.Card([]byte(p)); got != want[p] {
					t.Error("concurrent hashing mixed states")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDecisionJSON(t *testing.T) {
	h, _ := NewHasher(testKey())
	id, _ := h.Card([]byte(panA))
	b, err := json.Marshal(Decision{Rule: RuleHotlist, Reason: "card is on the hotlist (version 1)", Card: id, Err: ErrStorage})
	if err != nil || string(b) != `{"allow":false,"rule":"hotlist","reason":"card is on the hotlist (version 1)"}` {
		t.Errorf("%s %v", b, err)
	}
	b, _ = json.Marshal(Decision{Allow: true, CVM: CVMOnlinePIN, Card: id})
	if string(b) != `{"allow":true,"cvm":"online_pin"}` {
		t.Errorf("%s", b)
	}
}
