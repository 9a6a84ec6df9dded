package emv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// completeCase is one path of the second half of a contact online
// transaction.
type completeCase struct {
	name    string
	opts    cardOpts
	mod     func(c *testCard, a *testApp)
	resp    HostResponse
	outcome Outcome
	err     error
	tvr     string
	tsi     string
	scripts string // 9F5B
	arc     string
	check   func(t *testing.T, s *Session, c *testCard)
}

var approved = HostResponse{Responded: true, Approved: true, ARC: [2]byte{'0', '0'}, IssuerAuthData: h("11223344556677883030")}

func script(t string, id string, cmds ...string) []byte {
	var parts [][]byte
	if id != "" {
		parts = append(parts, tlv("9F18", h(id)))
	}
	for _, c := range cmds {
		parts = append(parts, tlv("86", h(c)))
	}
	return tpl(t, parts...)
}

func TestContactComplete(t *testing.T) {
	declined := HostResponse{Responded: true, Approved: false, ARC: [2]byte{'0', '5'}, IssuerAuthData: h("AABBCCDDEEFF00113035")}
	putData := "04DA9F58050111223344" // PUT DATA 9F58, one byte and a 4-byte MAC
	blockApp := "841E000000"
	cases := []completeCase{
		{name: "approved, issuer authentication ok", resp: approved, outcome: OutcomeApproved, tvr: "0000008000", tsi: "F800", arc: "3030",
			check: func(t *testing.T, s *Session, c *testCard) {
				if c.extAuth != 1 {
					t.Errorf("EXTERNAL AUTHENTICATE sent %d times", c.extAuth)
				}
			}},
		{name: "approved, issuer authentication fails", resp: HostResponse{Responded: true, Approved: true, ARC: [2]byte{'0', '0'}, IssuerAuthData: h("00000000000000003030")},
			outcome: OutcomeApproved, tvr: "0000008040", tsi: "F800"},
		{name: "approved, the card declines", resp: approved, mod: func(_ *testCard, a *testApp) {
			a.decide = func(want byte, second bool) byte {
				if second {
					return 0x00
				}
				return want
			}
		}, outcome: OutcomeDeclined},
		{name: "approved, no issuer authentication data", resp: HostResponse{Responded: true, Approved: true, ARC: [2]byte{'0', '0'}},
			outcome: OutcomeApproved, tsi: "E800",
			check: func(t *testing.T, s *Session, c *testCard) {
				if c.extAuth != 0 {
					t.Errorf("EXTERNAL AUTHENTICATE sent")
				}
			}},
		{name: "issuer authentication in the second GENERATE AC", opts: cardOpts{cdol2: h("910A" + cdol2Hex)}, resp: approved,
			outcome: OutcomeApproved, tsi: "F800",
			check: func(t *testing.T, s *Session, c *testCard) {
				last := c.cmds[len(c.cmds)-1]
				if c.extAuth != 0 || last[10:30] != "11223344556677883030" {
					t.Errorf("EXTERNAL AUTHENTICATE %d, last command %s", c.extAuth, last)
				}
			}},
		{name: "declined by the host", resp: declined, outcome: OutcomeDeclined, arc: "3035",
			check: func(t *testing.T, s *Session, c *testCard) {
				if last := c.cmds[len(c.cmds)-1]; last[4:6] != "00" {
					t.Errorf("second GENERATE AC %s did not ask for an AAC", last)
				}
			}},
		{name: "no response, default codes decline", resp: HostResponse{}, outcome: OutcomeDeclined, arc: "5A33"},
		{name: "no response, default codes approve", resp: HostResponse{}, mod: func(c *testCard, _ *testApp) {}, outcome: OutcomeApproved, arc: "5933"},
		{name: "scripts before, ok", resp: withScripts(approved, [][]byte{script("71", "00000001", putData, putData)}, nil),
			outcome: OutcomeApproved, tsi: "FC00", scripts: "2000000001",
			check: func(t *testing.T, s *Session, c *testCard) {
				if c.scriptsRun != 2 {
					t.Errorf("%d script commands", c.scriptsRun)
				}
				if i := indexCmd(c.cmds, "04DA"); i < 0 || i > lastCmd(c.cmds, "80AE") {
					t.Errorf("the 71 script did not run before the second GENERATE AC: %v", c.cmds)
				}
				objs, _ := parseTLV(s.OnlineData())
				if o, ok := find(objs, 0x9F5B); !ok || !bytes.Equal(o.value, h("2000000001")) {
					t.Errorf("DE55 9F5B %X", o.value)
				}
			}},
		{name: "scripts before, second command fails", resp: withScripts(approved, [][]byte{script("71", "00000002", putData, blockApp, putData)}, nil),
			mod:     func(_ *testCard, a *testApp) { a.scriptSW = map[byte]uint16{0x1E: 0x6A88} },
			outcome: OutcomeApproved, tvr: "0000008020", scripts: "1200000002"},
		{name: "scripts after, ok", resp: withScripts(approved, nil, [][]byte{script("72", "", blockApp)}),
			outcome: OutcomeApproved, tsi: "FC00", scripts: "2000000000",
			check: func(t *testing.T, s *Session, c *testCard) {
				if last := c.cmds[len(c.cmds)-1]; last != blockApp {
					t.Errorf("the 72 script did not run last: %s", last)
				}
			}},
		{name: "scripts after, fails", resp: withScripts(approved, nil, [][]byte{script("72", "0000000A", blockApp)}),
			mod:     func(_ *testCard, a *testApp) { a.scriptSW = map[byte]uint16{0x1E: 0x6985} },
			outcome: OutcomeApproved, tvr: "0000008010", scripts: "110000000A"},
		{name: "script malformed", resp: withScripts(approved, [][]byte{h("7105860102")}, nil),
			outcome: OutcomeApproved, tvr: "0000008020", scripts: "1000000000"},
		{name: "two scripts", resp: withScripts(approved, [][]byte{script("71", "00000001", putData)}, [][]byte{script("72", "00000002", putData)}),
			outcome: OutcomeApproved, scripts: "20000000012000000002"},
		{name: "CDA on the second GENERATE AC", opts: cardOpts{oda: "cda"}, resp: approved, outcome: OutcomeApproved, tvr: "0000008000"},
		{name: "CDA fails on the second GENERATE AC", opts: cardOpts{oda: "cda"}, resp: approved, mod: func(c *testCard, a *testApp) {
			a.decide = func(want byte, second bool) byte {
				if second {
					a.badCDA = true
				}
				return want
			}
		}, outcome: OutcomeDeclined, tvr: "0400008000"},
		{name: "card removed before the second GENERATE AC", resp: approved, mod: func(c *testCard, _ *testApp) {
			c.removeAt, c.removeN = "GENERATE AC", 1
		}, outcome: OutcomeEndApplication, err: ErrCardRemoved},
		// CDOL2 data over 255 bytes: the transaction ends (the sale is
		// reversed) without a second GENERATE AC whose Lc wrapped.
		{name: "CDOL2 data over 255 bytes", resp: approved, opts: cardOpts{cdol2: h(cdol2Hex + "DF017FDF027F")},
			outcome: OutcomeEndApplication, err: ErrFormat,
			check: func(t *testing.T, _ *Session, c *testCard) {
				if c.gacCount != 1 {
					t.Errorf("GENERATE AC sent %d times: %s", c.gacCount, c.cmds[len(c.cmds)-1])
				}
			}},
		{name: "second GENERATE AC refused", resp: approved, mod: func(_ *testCard, a *testApp) { a.cdol2 = h("8A01") },
			outcome: OutcomeEndApplication, err: ErrStatus},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.name == "no response, default codes approve" {
				cfg.AIDs[0].TACDefault = [5]byte{}
			}
			if tc.opts.oda == "" {
				tc.opts.oda = "dda"
			}
			card, app := newContactCard(t, tc.opts)
			if tc.mod != nil {
				tc.mod(card, app)
			}
			logs := &logBuf{}
			s, err := run(t, cfg, card, &testUI{pins: [][]byte{rightPIN}}, purchase(60000), logs)
			if err != nil || s.Outcome() != OutcomeOnlineRequest {
				t.Fatalf("Start: %v %v", s.Outcome(), err)
			}
			out, err := s.Complete(context.Background(), tc.resp)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Complete error %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if out != tc.outcome || s.Outcome() != tc.outcome {
				t.Errorf("outcome %v, want %v (%+v)", out, tc.outcome, s.Summary())
			}
			sum := s.Summary()
			if tc.tvr != "" && sum.TVR != tc.tvr {
				t.Errorf("TVR %s, want %s", sum.TVR, tc.tvr)
			}
			if tc.tsi != "" && sum.TSI != tc.tsi {
				t.Errorf("TSI %s, want %s", sum.TSI, tc.tsi)
			}
			if tc.scripts != "" && fmt.Sprintf("%X", s.st.scripts) != tc.scripts {
				t.Errorf("9F5B %X, want %s", s.st.scripts, tc.scripts)
			}
			if tc.arc != "" && fmt.Sprintf("%X", s.st.term[0x8A]) != tc.arc {
				t.Errorf("8A %X, want %s", s.st.term[0x8A], tc.arc)
			}
			if tc.check != nil {
				tc.check(t, s, card)
			}
			if _, err := s.Complete(context.Background(), tc.resp); !errors.Is(err, ErrState) {
				t.Errorf("a second Complete: %v", err)
			}
			noCardData(t, logs.String(), err)
		})
	}
}

func withScripts(r HostResponse, s71, s72 [][]byte) HostResponse {
	r.Scripts71, r.Scripts72 = s71, s72
	return r
}

func indexCmd(cmds []string, prefix string) int {
	for i, c := range cmds {
		if len(c) >= len(prefix) && c[:len(prefix)] == prefix {
			return i
		}
	}
	return -1
}

func lastCmd(cmds []string, prefix string) int {
	for i := len(cmds) - 1; i >= 0; i-- {
		if len(cmds[i]) >= len(prefix) && cmds[i][:len(prefix)] == prefix {
			return i
		}
	}
	return -1
}
