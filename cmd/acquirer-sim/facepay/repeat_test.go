package facepay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/facepay"
	fp "posd/terminal/facepay"
	"posd/terminal/wiresec"
)

// postSigned sends body to path with headers, as post does, and returns
// the answer's status, body and signature header.
func postSigned(t *testing.T, url, path string, headers map[string]string, body []byte) (int, []byte, string) {
	t.Helper()
	status, b, h := postHeaders(t, url, path, headers, body)
	return status, b, h.Get(fp.HeaderSignature)
}

// A verbatim repeat of a signed request — a copy replayed off the wire
// within the 5 minutes its signature is good for, or the terminal's own
// retry in the same second — is answered as the first one was, with the
// same signature, and not executed again: a replayed identify neither
// runs the match again nor replaces the session the terminal holds.
func TestVerbatimRepeatAnsweredFromMemory(t *testing.T) {
	r := newRig(t, wiresec.ModeAES)
	body := attackerIdentify(t, r, "alice", r.tid, "R1", 8800)
	h := signedRequest(t, r, r.tid, fp.PathIdentify, body)
	s1, b1, sig1 := postSigned(t, r.url, fp.PathIdentify, h, body)
	var c fp.Candidate
	if err := json.Unmarshal(b1, &c); s1 != http.StatusOK || err != nil || c.Session == "" || sig1 == "" {
		t.Fatalf("identify: HTTP %d %s", s1, b1)
	}
	r.clk.Advance(4 * time.Minute)
	s2, b2, sig2 := postSigned(t, r.url, fp.PathIdentify, h, body)
	if s2 != s1 || !bytes.Equal(b2, b1) || sig2 != sig1 {
		t.Fatalf("replayed identify: HTTP %d %s %s, first HTTP %d %s %s", s2, b2, sig2, s1, b1, sig1)
	}
	if tot := r.p.Totals(); tot.Identifies != 1 || tot.Matches != 1 || tot.Repeats != 1 || tot.Calls != 2 {
		t.Fatalf("totals %+v", tot)
	}
	// The signature is checked before memory is: the same signature on
	// another body, or on the same one once stale, is refused.
	if s, b, _ := postSigned(t, r.url, fp.PathIdentify, h, append(bytes.Clone(body), ' ')); s != http.StatusUnauthorized {
		t.Fatalf("the signature of another body: HTTP %d %s", s, b)
	}
	// The terminal's session is the first identify's, still open.
	r.amounts["R1"] = 8800
	block, ksn := r.pinBlock(c.Session, "R1", 8800, facepay.Password("alice"))
	confirm := fp.ConfirmRequest{Session: c.Session, OrderID: "R1", Amount: 8800, Currency: "156", PINBlock: block, KSN: ksn}
	res, err := r.c.Confirm(context.Background(), confirm)
	if err != nil || res.Status != fp.StatusApproved {
		t.Fatalf("confirm of the first identify's session: %+v %v", res, err)
	}
	// The terminal's client sending the same confirm again in the same
	// second: the same bytes, the same approval, which the client
	// verifies as the answer to its request.
	again, err := r.c.Confirm(context.Background(), confirm)
	if err != nil || again != res {
		t.Fatalf("the same confirm again: %+v %v, first %+v", again, err, res)
	}
	if tot := r.p.Totals(); tot.Confirms != 1 || tot.ConfirmRepeats != 0 || tot.Approved != 1 || tot.Repeats != 2 {
		t.Fatalf("totals %+v", tot)
	}
	// Once the identify is more than 5 minutes old it is stale, not a
	// repeat.
	r.clk.Advance(time.Minute + time.Second)
	if s, b, _ := postSigned(t, r.url, fp.PathIdentify, h, body); s != http.StatusUnauthorized || !bytes.Contains(b, []byte("timestamp")) {
		t.Fatalf("stale identify: HTTP %d %s", s, b)
	}
	var repeats int
	for _, l := range journalLines(t, r.journal.Bytes()) {
		if l["repeat"] == true {
			repeats++
			if l["terminal"] != r.tid || l["order_id"] != "R1" || l["op"] == "identify" && l["session"] != c.Session ||
				l["op"] == "confirm" && l["status"] != fp.StatusApproved {
				t.Fatalf("journal line of a repeat: %v", l)
			}
		}
	}
	if repeats != 2 {
		t.Fatalf("%d repeats journaled", repeats)
	}
	checkJournal(t, r.journal.Bytes())
}
