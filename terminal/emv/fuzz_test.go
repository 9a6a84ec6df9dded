package emv

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"posd/conn/apdu"
	"posd/conn/clock"
)

// FuzzTLV: BER-TLV decoding never panics, and what it accepts splits
// into raw objects that re-parse to the same objects.
func FuzzTLV(f *testing.F) {
	for _, s := range []string{"6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000041010500A4D617374657263617264870101",
		"770E8202190094080801010010010300", "5A88FFFFFFFFFFFFFFFF", "00009F360200FF", "7081FF"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseTLV(b)
		if err != nil {
			return
		}
		raw, err := rawObjects(b)
		if err != nil {
			return // bertlv accepts long lengths of more than 3 bytes that the kernel refuses
		}
		again, err := parseTLV(bytes.Join(raw, nil))
		if err != nil || len(again) != len(objs) {
			t.Fatalf("raw objects do not re-parse: %v", err)
		}
	})
}

// FuzzDOL: DOL parsing never panics and building gives the lengths asked.
func FuzzDOL(f *testing.F) {
	for _, s := range []string{"9F02069F03069F1A0295055F2A029A039C019F37049F35019F34039F4C08", "8A029F02069F03069F1A0295055F2A029A039C019F3704", "9F66049F02069F03069F1A0295055F2A029A039C019F3704", "9F", "9F8181"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDOL(b)
		if err != nil {
			return
		}
		n := 0
		for _, e := range d {
			n += e.length
		}
		out := buildDOL(d, func(t tag) ([]byte, bool) { return b, true })
		if len(out) != n {
			t.Fatalf("DOL data of %d bytes, want %d", len(out), n)
		}
	})
}

// FuzzFCI: the FCI parser (SELECT responses) never panics.
func FuzzFCI(f *testing.F) {
	f.Add(h("6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000041010500A4D617374657263617264870101"))
	f.Add(h("6F1E840E315041592E5359532E4444463031A50C880101"))
	f.Fuzz(func(t *testing.T, b []byte) {
		f, err := parseFCI(b)
		if err == nil && (len(f.dfName) < 5 || len(f.dfName) > 16) {
			t.Fatalf("DF name of %d bytes accepted", len(f.dfName))
		}
	})
}

// FuzzGPOResponse: GET PROCESSING OPTIONS responses (formats 1 and 2)
// and the AFL they carry.
func FuzzGPOResponse(f *testing.F) {
	f.Add(h("800E1C00080101001001030018010100"))
	f.Add(h("77128202190094080801010010010300"))
	f.Add(h("770E82021C00940C0801010110010200"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := &txnState{iface: Contact, icc: map[tag][]byte{}, ctx: context.Background(), log: slog.New(slog.DiscardHandler)}
		if err := st.parseGPO(b, map[tag]bool{}); err != nil {
			return
		}
		if len(st.icc[0x82]) != 2 {
			t.Fatalf("AIP of %d bytes accepted", len(st.icc[0x82]))
		}
		_, _ = parseAFL(st.icc[0x94])
	})
}

// FuzzRecord: READ RECORD responses of SFIs 1-10 and 11-30.
func FuzzRecord(f *testing.F) {
	f.Add(byte(1), h("70135A0847617390010101195F24032912315F340101"))
	f.Add(byte(11), h("70035A0147"))
	f.Add(byte(2), h("00007003500141"))
	f.Add(byte(1), h("70035A0147FFFF00FF"))
	f.Fuzz(func(t *testing.T, sfi byte, b []byte) {
		objs, static, err := parseRecord(sfi%31, b)
		if err != nil {
			return
		}
		signed := b
		if objs != nil {
			signed = recordBody(b)
		}
		if sfi%31 > 10 && !bytes.Equal(static, signed) || sfi%31 <= 10 && objs == nil {
			t.Fatalf("SFI %d: static %X objects %v", sfi%31, static, objs)
		}
	})
}

// FuzzACResponse: GENERATE AC responses (formats 1 and 2).
func FuzzACResponse(f *testing.F) {
	f.Add(h("80128000101122334455667788060110A00000"))
	f.Add(h("77299F2701809F360200109F260811223344556677889F10070601120300000000"))
	f.Add(h("00772B9F2701409F3602001F9F4B81031122339F10020102"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ac, raw, err := parseACResponse(b)
		if err != nil {
			return
		}
		if raw != nil {
			if _, err := parseTLV(bytes.Join(raw, nil)); err != nil {
				t.Fatalf("raw objects do not parse: %v", err)
			}
		}
		_ = ac
	})
}

// FuzzTrace: trace files; what parses replays without panicking.
func FuzzTrace(f *testing.F) {
	// Small seeds: the minimisation of whole traces takes the fuzzer's time.
	f.Add([]byte(`{"interface": "contact", "terminal": {"9F02": "000000001000", "9F37": "01020304"}, "ca_keys": [], "exchanges": [{"c": "00A404000E315041592E5359532E444446303100", "r": "6A82"}]}`))
	f.Add([]byte(`{"interface": "contactless", "terminal": {"DFE002": "01", "9A": "250615"}, "ca_keys": [], "exchanges": [{"c": "00A404000E325041592E5359532E444446303100", "r": "6F26840E325041592E5359532E4444463031A514BF0C11610F4F07A00000000310105004564953419000"}]}`))
	f.Add([]byte(`{"interface": "contact", "terminal": {}, "ca_keys": [], "exchanges": []}`))
	cfg := simConfig(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTrace(b)
		if err != nil {
			if !errors.Is(err, ErrTrace) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_ = Replay(context.Background(), cfg, tr, Opts{})
	})
}

// looseCard answers the n-th command with the n-th recorded response,
// whatever the command, one response replaced: the kernel's every
// response parser meets arbitrary bytes in a realistic transaction.
type looseCard struct {
	resp [][]byte
	n    int
}

func (c *looseCard) Transmit(context.Context, []byte) ([]byte, error) {
	if c.n >= len(c.resp) {
		return nil, apdu.ErrCardRemoved
	}
	c.n++
	return c.resp[c.n-1], nil
}

// FuzzKernel runs whole transactions (contact and contactless, with
// Complete) whose card answers one command with fuzzed bytes: selection
// FCIs, PSE and PPSE directories, GPO, READ RECORD, INTERNAL
// AUTHENTICATE, GET DATA, VERIFY, GENERATE AC and scripts. The kernel
// must not panic and its errors must be the package's.
func FuzzKernel(f *testing.F) {
	var traces []*Trace
	for _, tc := range traceCases {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			f.Fatal(err)
		}
		tr, err := ParseTrace(b)
		if err != nil {
			f.Fatal(err)
		}
		traces = append(traces, tr)
		for i, e := range tr.Exchanges {
			f.Add(uint8(len(traces)-1), uint8(i), mustHex(e.R)[:len(mustHex(e.R))/2])
		}
	}
	cfg := simConfigWithTestCA(f)
	f.Fuzz(func(t *testing.T, which, index uint8, data []byte) {
		tr := traces[int(which)%len(traces)]
		c := &looseCard{}
		for i, e := range tr.Exchanges {
			r := mustHex(e.R)
			if i == int(index)%len(tr.Exchanges) {
				r = data
			}
			c.resp = append(c.resp, r)
		}
		iface, _ := tr.iface()
		k := New(cfg, Opts{Clock: clock.NewFake(testDate), Rand: rand.NewChaCha8([32]byte{1})})
		s, err := k.Start(context.Background(), c, iface, tap(150000), &testUI{pins: [][]byte{rightPIN, rightPIN, rightPIN}})
		checkErr(t, err)
		if s != nil && s.Outcome() == OutcomeOnlineRequest {
			_, err = s.Complete(context.Background(), withScripts(approved, [][]byte{script("71", "", "04DA9F58050111223344")}, nil))
			checkErr(t, err)
			_ = s.OnlineData()
			_ = s.Summary()
		}
	})
}

func checkErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	for _, e := range []error{ErrCardRemoved, ErrCardBlocked, ErrAppBlocked, ErrNoApplication, ErrDataMissing, ErrFormat,
		ErrStatus, ErrServiceNotAllowed, ErrCancelled, ErrSeePhone} {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("untyped error: %v", err)
}

// FuzzExchange: the T=0 procedure over any command (issuer script
// commands come as the issuer wrote them) and any answers: it ends within
// maxGetResponse+1 commands, and a command re-issued after 6Cxx keeps a
// well-formed command well-formed and a case 2 or 4 command's length; a
// case 1 or 3 command is never re-issued with an Le.
func FuzzExchange(f *testing.F) {
	f.Add(h("84CA9F3600"), h("00 6C05 05 9F36020010 9000"))
	f.Add(h("00A4040007A000000003101000"), h("00 6283 00 6110 10 A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5 9000"))
	f.Add(h("80AE800008000000001000000000"), h("00 6110 00 6C0C 0C 5A5A5A5A5A5A5A5A5A5A5A5A 9000"))
	f.Add(h("04DA9F580501"), h("00 6C04"))
	f.Add(h("0020008008241234FFFFFFFFFF"), h("00 6C02 02 1122 9000"))
	f.Add(h("841E0000"), h("00 6C02 02 1122 9000"))
	f.Fuzz(func(t *testing.T, cmd, answers []byte) {
		card := &fuzzCard{answers: answers}
		st := &txnState{iface: Contact, ctx: context.Background(), log: slog.New(slog.DiscardHandler), card: card}
		_, _, _ = st.exchange("SCRIPT", cmd)
		if len(card.sent) > maxGetResponse+1 {
			t.Fatalf("%d commands", len(card.sent))
		}
		cc := apduCase(cmd)
		for _, c := range card.sent {
			if cc != 0 && apduCase(c) == 0 {
				t.Fatalf("command %X sent for %X", c, cmd)
			}
			if cc.hasLe() && len(c) > len(cmd) {
				t.Fatalf("command %X sent for %X", c, cmd)
			}
			if (cc == case1 || cc == case3) && len(c) >= 4 && bytes.Equal(c[:4], cmd[:4]) && !bytes.Equal(c, cmd) {
				t.Fatalf("case %d command %X re-issued as %X", cc, cmd, c)
			}
		}
	})
}

// FuzzScript: issuer script templates from the host. What parses is
// whole commands of one of the four cases, and nothing else.
func FuzzScript(f *testing.F) {
	f.Add(tpl("71", tlv("9F18", h("00000001")), tlv("86", h("8418000008AABBCCDDEEFF0011"))), true)
	f.Add(tpl("72", tlv("86", h("84CA9F3600")), tlv("86", h("841800"))), false)
	f.Add(tpl("71", tpl("A0", tlv("86", h("841E000000")))), true)
	f.Fuzz(func(t *testing.T, b []byte, before bool) {
		want := tag(0x72)
		if before {
			want = 0x71
		}
		id, cmds, err := parseScript(b, want)
		if id != nil && len(id) != 4 {
			t.Fatalf("identifier %X", id)
		}
		if err != nil {
			if !errors.Is(err, ErrFormat) || cmds != nil {
				t.Fatalf("%v with %d commands", err, len(cmds))
			}
			return
		}
		for _, c := range cmds {
			if apduCase(c) == 0 {
				t.Fatalf("command %X accepted", c)
			}
		}
	})
}

// fuzzCard answers from a byte string: a length byte (mod 17), that much
// data and two status bytes per answer; it fails when the bytes run out.
type fuzzCard struct {
	answers []byte
	sent    [][]byte
}

func (c *fuzzCard) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	c.sent = append(c.sent, bytes.Clone(cmd))
	if len(c.answers) < 1 {
		return nil, errors.New("fuzz card: no more answers")
	}
	n := int(c.answers[0]%17) + 2
	if len(c.answers) < 1+n {
		return nil, errors.New("fuzz card: no more answers")
	}
	r := bytes.Clone(c.answers[1 : 1+n])
	c.answers = c.answers[1+n:]
	return r, nil
}
