package emv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"posd/conn/apdu"
)

// run starts a contact transaction of amount on card.
func run(t *testing.T, cfg Config, card *testCard, ui UI, txn Txn, logs *logBuf) (*Session, error) {
	t.Helper()
	if txn.Date.IsZero() {
		txn.Date = testDate
	}
	k := testKernel(t, cfg, logs)
	s, err := k.Start(context.Background(), card, Contact, txn, ui)
	if s == nil {
		t.Fatalf("Start returned no session: %v", err)
	}
	return s, err
}

func purchase(amount int64) Txn {
	return Txn{Amount: amount, Currency: "156", Type: TypePurchase, HostReachable: true}
}

func TestContactOfflineApprove(t *testing.T) {
	cfg := testConfig(t)
	card, _ := newContactCard(t, cardOpts{oda: "dda"})
	ui := &testUI{pins: [][]byte{rightPIN}}
	s, err := run(t, cfg, card, ui, purchase(1000), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.Outcome() != OutcomeApprovedOffline {
		t.Fatalf("outcome %v, want approved offline; summary %+v", s.Outcome(), s.Summary())
	}
	sum := s.Summary()
	if sum.TVR != "0000000000" || sum.Cryptogram != "TC" || sum.AID != "A0000000031010" {
		t.Errorf("summary %+v", sum)
	}
	if sum.TSI != "E800" {
		t.Errorf("TSI %s, want E800 (ODA, CVM, card risk, terminal risk)", sum.TSI)
	}
	if got := s.CVM(); got.Method != CVMOfflinePlainPIN || sum.CVMResults != "410302" {
		t.Errorf("CVM %+v results %s", got, sum.CVMResults)
	}
	if !ui.saw(MsgPINOK) {
		t.Errorf("no PIN OK message: %v", ui.messages)
	}
	c := s.Card()
	if c.PAN != testPAN || c.Expiry != "291231" || c.PANSequence != "01" || c.ServiceCode != "201" {
		t.Errorf("card data %+v", c)
	}
	c.Wipe()
	if c.PAN != "" || c.Track2Equivalent != nil {
		t.Errorf("Wipe left %+v", c)
	}
	if _, err := s.Complete(context.Background(), HostResponse{}); !errors.Is(err, ErrState) {
		t.Errorf("Complete after an offline approval: %v, want ErrState", err)
	}
}

func TestContactOnlineApproved(t *testing.T) {
	cfg := testConfig(t)
	card, _ := newContactCard(t, cardOpts{oda: "cda"})
	ui := &testUI{pins: [][]byte{rightPIN}}
	s, err := run(t, cfg, card, ui, purchase(60000), nil) // above the floor limit
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.Outcome() != OutcomeOnlineRequest || s.Summary().TVR != "0000008000" {
		t.Fatalf("outcome %v summary %+v", s.Outcome(), s.Summary())
	}
	de55 := s.OnlineData()
	objs, err := parseTLV(de55)
	if err != nil {
		t.Fatalf("DE55 is not TLV: %v", err)
	}
	for _, tg := range []tag{0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F41, 0x5F34} {
		if _, ok := find(objs, tg); !ok {
			t.Errorf("DE55 lacks %v", tg)
		}
	}
	for _, tg := range []tag{0x5A, 0x57, 0x5F24, 0x9F1E} {
		if _, ok := find(objs, tg); ok {
			t.Errorf("DE55 carries %v", tg)
		}
	}
	out, err := s.Complete(context.Background(), HostResponse{Responded: true, Approved: true, ARC: [2]byte{'0', '0'},
		IssuerAuthData: h("11223344556677883030")})
	if err != nil || out != OutcomeApproved {
		t.Fatalf("Complete: %v %v", out, err)
	}
	sum := s.Summary()
	if sum.Cryptogram != "TC" || sum.TSI != "F800" {
		t.Errorf("after Complete: %+v", sum)
	}
	if card.extAuth != 1 {
		t.Errorf("EXTERNAL AUTHENTICATE sent %d times", card.extAuth)
	}
}

// TestLogsCarryNoCardData checks that the debug logs the card-data
// checks read are there at all: APDUs, the records' objects, the outcome.
func TestLogsCarryNoCardData(t *testing.T) {
	card, _ := newContactCard(t, cardOpts{oda: "cda"})
	logs := &logBuf{}
	s, err := run(t, testConfig(t), card, &testUI{pins: [][]byte{rightPIN}}, purchase(60000), logs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(context.Background(), approved); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"emv: apdu", "cmd=VERIFY", "00200080+9 bytes", "5A=<8 bytes>", "57=<17 bytes>", "5F24=<3 bytes>", "emv: outcome", "emv: complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q", want)
		}
	}
	noCardData(t, out, nil)
	if !containsFold("x"+testPAN, testPAN) {
		t.Fatal("the check itself is broken")
	}
}

// TestSensitiveDOL: a CDOL naming the PAN puts it in GENERATE AC; the log
// shows that command as its header and length.
func TestSensitiveDOL(t *testing.T) {
	card, a := newContactCard(t, cardOpts{oda: "none"})
	a.cdol1 = append(h(cdol1Hex), 0x5A, 0x08)
	a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "8C", h(cdol1Hex), a.cdol1)
	logs := &logBuf{}
	s, err := run(t, testConfig(t), card, &testUI{pins: [][]byte{rightPIN}}, purchase(1000), logs)
	if err != nil || s.Outcome() == OutcomeEndApplication {
		t.Fatalf("%v %v", s.Outcome(), err)
	}
	if !strings.Contains(logs.String(), "80AE8000+51 bytes") || !containsFold(card.cmds[len(card.cmds)-1], testPAN) {
		t.Fatalf("the GENERATE AC was not sent with the PAN or not logged: %v\n%s", card.cmds, logs.String())
	}
	noCardData(t, logs.String(), err)
}

func TestCardRemoved(t *testing.T) {
	for _, at := range []string{"SELECT", "READ RECORD", "GPO", "GET DATA", "VERIFY", "GENERATE AC"} {
		t.Run(at, func(t *testing.T) {
			cfg := testConfig(t)
			card, _ := newContactCard(t, cardOpts{oda: "sda"})
			card.removeAt = at
			s, err := run(t, cfg, card, &testUI{pins: [][]byte{rightPIN}}, purchase(1000), nil)
			if !errors.Is(err, ErrCardRemoved) || !errors.Is(err, apdu.ErrCardRemoved) {
				t.Fatalf("error %v, want ErrCardRemoved", err)
			}
			if s.Outcome() != OutcomeEndApplication || s.Reason() != ReasonCardRemoved {
				t.Errorf("outcome %v reason %v", s.Outcome(), s.Reason())
			}
			if strings.Contains(err.Error(), testPAN) {
				t.Errorf("error carries the PAN: %v", err)
			}
		})
	}
}

// TestConcurrentTransactions runs one Kernel on two cards at once (run
// with -race).
func TestConcurrentTransactions(t *testing.T) {
	k := testKernel(t, testConfig(t), nil)
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		card, _ := newContactCard(t, cardOpts{oda: "dda"})
		go func() {
			txn := purchase(1000)
			txn.Date = testDate
			s, err := k.Start(context.Background(), card, Contact, txn, &testUI{pins: [][]byte{rightPIN}})
			if err == nil && s.Outcome() != OutcomeApprovedOffline {
				err = errors.New(s.Outcome().String())
			}
			done <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
