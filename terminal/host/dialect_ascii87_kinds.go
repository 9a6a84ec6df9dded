package host

import (
	"fmt"
	"time"

	"github.com/moov-io/iso8583"
)

// MTIs, processing codes (DE3) and POS condition codes (DE25) of the
// ASCII87 messages beyond the sale (see the table in ASCII87's doc).
const (
	MTIAuthorization         = "0100"
	MTIAuthorizationResponse = "0110"
	MTIBatchUpload           = "0320"
	MTIBatchUploadResponse   = "0330"
	MTISettlement            = "0500"
	MTISettlementResponse    = "0510"

	ProcGoods                 = "000000" // goods and services: sale, pre-authorization, completion, advice
	ProcVoid                  = "020000" // void of a sale, completion or pre-authorization
	ProcRefund                = "200000" // returns
	ProcVoidRefund            = "220000" // void of a refund
	ProcBalance               = "310000" // balance inquiry
	ProcSettlement            = "920000" // settlement, first
	ProcSettlementAfterUpload = "960000" // settlement after a batch upload

	CondNormal  = "00" // normal presentment
	CondPreauth = "06" // pre-authorization request (and its completion)
)

// a87Codes is what tells a kind on the ASCII87 wire: MTI, DE3, DE25.
type a87Codes struct{ mti, proc, cond string }

var a87Kinds = map[Kind]a87Codes{
	KindPurchase:   {MTIPurchase, ProcGoods, CondNormal},
	KindRefund:     {MTIPurchase, ProcRefund, CondNormal},
	KindVoid:       {MTIPurchase, ProcVoid, CondNormal}, // ProcVoidRefund for a refund's
	KindPreauth:    {MTIAuthorization, ProcGoods, CondPreauth},
	KindBalance:    {MTIAuthorization, ProcBalance, CondNormal},
	KindCompletion: {MTIAdvice, ProcGoods, CondPreauth},
	KindAdvice:     {MTIAdvice, ProcGoods, CondNormal},
}

// a87VoidCodes gives a void's codes by what it voids. The void of a
// refund says so by its DE3 (a void of a credit). The cancellation of a
// pre-authorization stays in the authorization class: ISO 8583:1987
// keeps 01xx for messages that move no money and 02xx for financial
// ones, and releasing a hold moves none. So it is a 0100 like the
// pre-authorization, with DE25 "06" (pre-authorization) like it and its
// completion, and the void's DE3 "020000" (what the 1987 processing
// codes call a void of goods and services, as the void of a sale); DE90
// names the original 0100. The same layout CUP gives its 预授权撤销
// (0100, DE3 20, DE25 06).
func a87VoidCodes(orig Kind) a87Codes {
	c := a87Kinds[KindVoid]
	switch orig {
	case KindRefund:
		c.proc = ProcVoidRefund
	case KindPreauth:
		c.mti, c.cond = MTIAuthorization, CondPreauth
	}
	return c
}

// a87ReversalCodes gives the codes a reversal resends: its original's,
// orig's; of a void, those of the void of voided (DE90 then names the
// void's MTI).
func a87ReversalCodes(orig, voided Kind) a87Codes {
	if orig == KindVoid {
		return a87VoidCodes(orKind(voided))
	}
	return a87Kinds[orig]
}

// a87ReversalKind tells the original of a reversal by the MTI DE90 names,
// DE3 and DE25 (any when cond is empty), and of a void what it voided: a
// void of a refund, a pre-authorization's cancellation, or a void of a
// sale or completion (voided empty: their voids look alike). "" when they
// name none.
func a87ReversalKind(mti, proc, cond string) (orig, voided Kind) {
	match := func(c a87Codes) bool { return c.mti == mti && c.proc == proc && (cond == "" || c.cond == cond) }
	for _, k := range a87ReversalOrigs {
		if match(a87Kinds[k]) {
			return k, ""
		}
	}
	for _, v := range []Kind{KindRefund, KindPreauth, KindPurchase} {
		if match(a87VoidCodes(v)) {
			if v == KindPurchase {
				v = "" // or a completion
			}
			return KindVoid, v
		}
	}
	return "", ""
}

// a87FindKind finds among kinds the one sent as (mti, proc) and, when
// cond is not empty, cond. A void of either flavour has ProcVoid here.
func a87FindKind(kinds []Kind, mti, proc, cond string) Kind {
	if proc == ProcVoidRefund {
		proc = ProcVoid
	}
	for _, k := range kinds {
		c := a87Kinds[k]
		if c.mti == mti && c.proc == proc && (cond == "" || c.cond == cond) {
			return k
		}
	}
	return ""
}

// The original kinds each message can name, in the order decoders try
// them.
var (
	a87ReversalOrigs = []Kind{KindPurchase, KindRefund, KindPreauth, KindCompletion} // and voids, by a87ReversalKind
	a87UploadOrigs   = []Kind{KindPurchase, KindAdvice, KindRefund, KindCompletion}
	a87VoidOrigs     = []Kind{KindPurchase, KindCompletion}
	a87RefundOrigs   = []Kind{KindPurchase, KindCompletion}
)

// a87Request is every request beyond the sale, the advice, the reversal
// and network management: refund, pre-authorization, balance inquiry,
// void, completion, settlement and batch upload. Which fields each may
// carry is checked by a87Allowed when it is read.
type a87Request struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	EntryMode      string `index:"22"`
	Condition      string `index:"25"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	PINBlock       []byte `index:"52"`
	KSN            []byte `index:"53"`
	ICC            []byte `index:"55"`
	Batch          string `index:"60"`
	Track2Enc      []byte `index:"62"`
	Ref            string `index:"63"`
	CreditsCount   string `index:"74"`
	DebitsCount    string `index:"76"`
	CreditsAmount  string `index:"86"`
	DebitsAmount   string `index:"88"`
	OriginalData   string `index:"90"`
}

// a87Response is the answer to an a87Request.
type a87Response struct {
	MTI            string `index:"0"`
	ProcessingCode string `index:"3"`
	Amount         string `index:"4"`
	Transmission   string `index:"7"`
	STAN           string `index:"11"`
	LocalTime      string `index:"12"`
	LocalDate      string `index:"13"`
	Condition      string `index:"25"`
	RRN            string `index:"37"`
	AuthCode       string `index:"38"`
	ResponseCode   string `index:"39"`
	TerminalID     string `index:"41"`
	MerchantID     string `index:"42"`
	Currency       string `index:"49"`
	Balance        string `index:"54"`
	ICC            []byte `index:"55"`
	Batch          string `index:"60"`
	Ref            string `index:"63"`
}

// The data elements each request may carry (besides MTI, bitmap and MAC).
var a87Allowed = map[Kind][]int{
	KindRefund:      {3, 4, 7, 11, 12, 13, 22, 25, 37, 38, 41, 42, 49, 52, 53, 55, 62, 90},
	KindPreauth:     {3, 4, 7, 11, 12, 13, 22, 25, 41, 42, 49, 52, 53, 55, 62},
	KindBalance:     {3, 7, 11, 12, 13, 22, 25, 41, 42, 49, 52, 53, 55, 62},
	KindVoid:        {3, 4, 7, 11, 12, 13, 22, 25, 37, 38, 41, 42, 49, 53, 90},
	KindCompletion:  {3, 4, 7, 11, 12, 13, 22, 25, 37, 38, 41, 42, 49, 53, 90},
	KindSettlement:  {3, 7, 11, 12, 13, 41, 42, 49, 53, 60, 74, 76, 86, 88},
	KindBatchUpload: {3, 4, 7, 11, 12, 13, 22, 25, 37, 38, 41, 42, 49, 53, 60, 63, 90},
}

// onlyFields checks that m carries no data element outside allowed (MTI,
// bitmaps and MACs aside): a message of a kind that reads no card can
// carry no card data, and every field read is one the kind defines.
func onlyFields(m *iso8583.Message, k Kind, allowed []int) error {
	ok := map[int]bool{DEMTI: true, DEBitmap: true, DEMAC: true, DEMAC2: true}
	for _, id := range allowed {
		ok[id] = true
	}
	for id := range m.GetFields() {
		if !ok[id] {
			return fmt.Errorf("%w: field %d in a %s", ErrMalformed, id, k)
		}
	}
	return nil
}

// a87OrigData gives DE90: the original's MTI, STAN and DE7 (zeros when
// its time is unknown), then the two institution ids as zeros.
func a87OrigData(mti string, stan uint32, t time.Time) (string, error) {
	orig, err := fmtNum(int64(stan), 6, "original STAN")
	if err != nil {
		return "", err
	}
	de7 := "0000000000"
	if !t.IsZero() {
		de7 = t.UTC().Format("0102150405")
	}
	return mti + orig + de7 + "00000000000" + "00000000000", nil
}

// parseA87OrigData reads the original's MTI and STAN out of DE90.
func parseA87OrigData(de90 string) (mti string, stan uint32, err error) {
	if len(de90) != 42 || !isDigits(de90, 42) {
		return "", 0, fmt.Errorf("%w: original data elements missing or not digits", ErrMalformed)
	}
	s, _ := parseNum(de90[4:10], 6, "original STAN")
	return de90[:4], uint32(s), nil
}

// a87Wire gives the MTI, DE3 and DE25 a request of a kind beyond the sale
// is sent with, and the explicit kind of its original (when it has one).
func a87Wire(r *Request) (codes a87Codes, orig Kind, err error) {
	switch r.Kind {
	case KindRefund, KindPreauth, KindBalance:
		codes = a87Kinds[r.Kind]
		if r.Kind == KindRefund && (hasOrig(r) || r.OrigKind != "") {
			if !hasOrig(r) {
				return codes, "", fmt.Errorf("%w: the refund's original is named by its kind only", ErrInvalidRequest)
			}
			orig, err = refundOrig(r.OrigKind)
		} else if hasOrig(r) || r.OrigKind != "" {
			err = fmt.Errorf("%w: only a refund names an original", ErrInvalidRequest)
		}
		return codes, orig, err
	case KindVoid, KindCompletion:
		if orig, err = followUpOrig(r.Kind, r.OrigKind); err != nil {
			return codes, "", err
		}
		codes = a87Kinds[r.Kind]
		if r.Kind == KindVoid {
			codes = a87VoidCodes(orig)
		}
		return codes, orig, nil
	case KindSettlement:
		codes = a87Codes{MTISettlement, ProcSettlement, ""}
		if r.AfterUpload {
			codes.proc = ProcSettlementAfterUpload
		}
		return codes, "", nil
	case KindBatchUpload:
		if orig, err = uploadOrig(r.OrigKind); err != nil {
			return codes, "", err
		}
		codes = a87Kinds[orig]
		codes.mti = MTIBatchUpload
		return codes, orig, nil
	}
	return codes, "", fmt.Errorf("%w: %q", ErrUnsupported, r.Kind)
}

// encodeKind builds the request of a kind beyond the sale.
func (ascii87Codec) encodeKind(r *Request, stan, de7, de12, de13 string) (*iso8583.Message, error) {
	codes, orig, err := a87Wire(r)
	if err != nil {
		return nil, err
	}
	v := &a87Request{
		MTI: codes.mti, ProcessingCode: codes.proc, Transmission: de7, STAN: stan,
		LocalTime: de12, LocalDate: de13, Condition: codes.cond,
		TerminalID: r.TerminalID, MerchantID: r.MerchantID, KSN: r.KSN,
	}
	if r.Kind != KindSettlement {
		if v.Amount, v.Currency, v.EntryMode, err = financialFields(r); err != nil {
			return nil, err
		}
	}
	if !cardPresent(r.Kind) {
		if err := noCardData(r); err != nil {
			return nil, err
		}
	}
	if orig != "" {
		if v.RRN, v.AuthCode, err = origRRNAuth(r); err != nil {
			return nil, err
		}
		if v.OriginalData, err = a87OrigData(a87Kinds[orig].mti, r.OrigSTAN, r.OrigTime); err != nil {
			return nil, err
		}
	}
	switch r.Kind {
	case KindRefund, KindPreauth, KindBalance:
		v.PINBlock, v.ICC, v.Track2Enc = r.PINBlock, r.ICC, r.Track2Enc
	case KindSettlement:
		if !isDigits(r.Currency, 3) {
			return nil, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
		}
		v.Currency = r.Currency
		if v.CreditsCount, v.DebitsCount, v.CreditsAmount, v.DebitsAmount, err = fmtTotals(r.Totals, a87CountDigits, a87AmountDigits); err != nil {
			return nil, err
		}
		if v.Batch, err = fmtNum(int64(r.Batch), 6, "batch number"); err != nil {
			return nil, err
		}
	case KindBatchUpload:
		if !validRef(r.Ref) {
			return nil, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
		}
		v.Ref = r.Ref
		if v.Batch, err = fmtNum(int64(r.Batch), 6, "batch number"); err != nil {
			return nil, err
		}
	}
	return marshal(ascii87Spec, v)
}

// decodeKind reads a request of a kind beyond the sale; kind is what its
// MTI and DE3 (and DE25) say.
func (ascii87Codec) decodeKind(m *iso8583.Message, kind Kind) (Request, error) {
	var v a87Request
	r := Request{Kind: kind}
	if err := unmarshal(m, &v); err != nil {
		return r, err
	}
	r.TerminalID, r.MerchantID, r.Currency, r.EntryMode = v.TerminalID, v.MerchantID, v.Currency, v.EntryMode
	r.KSN, r.Mode, r.PINBlock, r.ICC, r.Track2Enc = v.KSN, modeOfKSN(v.KSN), v.PINBlock, v.ICC, v.Track2Enc
	if err := onlyFields(m, kind, a87Allowed[kind]); err != nil {
		return r, err
	}
	if kind == KindSettlement {
		stan, err := parseNum(v.STAN, 6, "STAN")
		if err != nil {
			return r, err
		}
		r.STAN = uint32(stan)
		r.AfterUpload = v.ProcessingCode == ProcSettlementAfterUpload
		if !isDigits(v.Currency, 3) {
			return r, fmt.Errorf("%w: currency is not 3 digits", ErrMalformed)
		}
		if r.Totals, err = parseTotals(v.CreditsCount, v.DebitsCount, v.CreditsAmount, v.DebitsAmount, a87CountDigits, a87AmountDigits); err != nil {
			return r, err
		}
		batch, err := parseNum(v.Batch, 6, "batch number")
		r.Batch = uint32(batch)
		return r, err
	}
	if err := decodeFinancial(&r, v.STAN, v.Amount); err != nil {
		return r, err
	}
	// The original, when the message names one.
	if v.OriginalData != "" {
		mti, stan, err := parseA87OrigData(v.OriginalData)
		if err != nil {
			return r, err
		}
		r.OrigSTAN, r.OrigRef = stan, v.OriginalData
		switch kind {
		case KindRefund:
			r.OrigKind = a87FindKind(a87RefundOrigs, mti, ProcGoods, "")
		case KindVoid:
			switch {
			case v.ProcessingCode == ProcVoidRefund:
				r.OrigKind = a87FindKind([]Kind{KindRefund}, mti, ProcRefund, "")
			case v.MTI == MTIAuthorization:
				r.OrigKind = a87FindKind([]Kind{KindPreauth}, mti, ProcGoods, "")
			default:
				r.OrigKind = a87FindKind(a87VoidOrigs, mti, ProcGoods, "")
			}
		case KindCompletion:
			r.OrigKind = a87FindKind([]Kind{KindPreauth}, mti, ProcGoods, "")
		case KindBatchUpload:
			r.OrigKind = a87FindKind(a87UploadOrigs, mti, v.ProcessingCode, v.Condition)
		}
		if r.OrigKind == "" {
			return r, fmt.Errorf("%w: the original (%s, field 3 %q) is not one a %s names", ErrMalformed, mti, v.ProcessingCode, kind)
		}
	} else if kind != KindRefund && kind != KindPreauth && kind != KindBalance {
		return r, fmt.Errorf("%w: original data elements missing", ErrMalformed)
	}
	if err := decodeOrigRRNAuth(&r, v.RRN, v.AuthCode); err != nil {
		return r, err
	}
	if r.Kind == KindRefund && v.OriginalData == "" && (r.OrigRRN != "" || r.OrigAuthCode != "") {
		return r, fmt.Errorf("%w: RRN or authorization code without the original data elements", ErrMalformed)
	}
	want := a87Kinds[kind]
	if kind == KindVoid {
		want = a87VoidCodes(r.OrigKind)
	}
	if kind != KindBatchUpload && (v.Condition != want.cond || v.MTI != want.mti) {
		return r, fmt.Errorf("%w: MTI or POS condition code of a %s", ErrMalformed, kind)
	}
	if kind == KindBatchUpload {
		if !validRef(v.Ref) {
			return r, fmt.Errorf("%w: field 63 is not a ref", ErrMalformed)
		}
		r.Ref = v.Ref
		batch, err := parseNum(v.Batch, 6, "batch number")
		if err != nil {
			return r, err
		}
		r.Batch = uint32(batch)
	}
	return r, nil
}

// encodeKindResponse answers a request of a kind beyond the sale.
func (ascii87Codec) encodeKindResponse(req *Request, resp *Response, mti, stan, de7, de12, de13 string) (*iso8583.Message, error) {
	codes, _, err := a87Wire(req)
	if err != nil {
		return nil, err
	}
	v := &a87Response{
		MTI: mti, ProcessingCode: codes.proc, Transmission: de7, STAN: stan,
		ResponseCode: resp.ResponseCode, TerminalID: req.TerminalID, MerchantID: req.MerchantID,
	}
	if req.Kind != KindSettlement {
		if v.Amount, v.Currency, _, err = financialFields(req); err != nil {
			return nil, err
		}
		v.Condition = codes.cond
	}
	switch req.Kind {
	case KindRefund, KindPreauth, KindBalance, KindVoid, KindCompletion:
		v.LocalTime, v.LocalDate, v.RRN, v.AuthCode, v.ICC = de12, de13, resp.RRN, resp.AuthCode, resp.ICC
		if req.Kind == KindBalance && resp.HasBalance {
			if v.Balance, err = fmtBalance(resp.Balance, resp.BalanceCurrency); err != nil {
				return nil, err
			}
		}
	case KindSettlement:
		if !isDigits(req.Currency, 3) {
			return nil, fmt.Errorf("%w: currency must be 3 digits", ErrInvalidRequest)
		}
		v.Currency = req.Currency
		if v.Batch, err = fmtNum(int64(req.Batch), 6, "batch number"); err != nil {
			return nil, err
		}
	case KindBatchUpload:
		if !validRef(req.Ref) {
			return nil, fmt.Errorf("%w: ref must be 1 to %d digits or letters", ErrInvalidRequest, MaxRef)
		}
		v.Ref = req.Ref
	}
	return marshal(ascii87Spec, v)
}

// decodeKindResponse reads the answer to a request of a kind beyond the
// sale. kind is empty when the answer does not say (DE3 absent).
func (ascii87Codec) decodeKindResponse(m *iso8583.Message, kind Kind) (Response, string, string, error) {
	var v a87Response
	if err := unmarshal(m, &v); err != nil {
		return Response{}, "", "", err
	}
	r := Response{Kind: kind, TerminalID: v.TerminalID, ResponseCode: v.ResponseCode, AuthCode: v.AuthCode, RRN: v.RRN, ICC: v.ICC}
	if err := responseICC(kind, r.ICC); err != nil {
		return r, "", "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var err error
	if r.Balance, r.BalanceCurrency, r.HasBalance, err = parseBalance(v.Balance); err != nil {
		return r, "", "", err
	}
	if v.Ref != "" {
		if !validRef(v.Ref) {
			return r, "", "", fmt.Errorf("%w: field 63 is not a ref", ErrMalformed)
		}
		r.Ref = v.Ref
	}
	return r, v.STAN, v.Amount, nil
}

// a87RequestKind tells the kind of a request by its MTI, DE3 and DE25;
// "" for the sale, the advice and the messages it does not know.
func a87RequestKind(m *iso8583.Message, mti string) (Kind, error) {
	proc, _ := m.GetString(DEProcessingCode)
	cond, _ := m.GetString(DECondition)
	switch mti {
	case MTIPurchase:
		switch proc {
		case "", ProcGoods:
			return KindPurchase, nil
		case ProcRefund:
			return KindRefund, nil
		case ProcVoid, ProcVoidRefund:
			return KindVoid, nil
		}
	case MTIAuthorization:
		switch proc {
		case ProcGoods:
			return KindPreauth, nil
		case ProcBalance:
			return KindBalance, nil
		case ProcVoid:
			return KindVoid, nil // of a pre-authorization
		}
	case MTIAdvice:
		if cond == CondPreauth {
			return KindCompletion, nil
		}
		return KindAdvice, nil
	case MTISettlement:
		if proc == ProcSettlement || proc == ProcSettlementAfterUpload {
			return KindSettlement, nil
		}
	case MTIBatchUpload:
		return KindBatchUpload, nil
	default:
		return "", fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
	}
	return "", fmt.Errorf("%w: processing code %q of a %s", ErrUnsupported, proc, mti)
}

// a87ResponseKind tells the kind of an answer by its MTI, DE3 and DE25;
// "" when the answer does not say.
func a87ResponseKind(m *iso8583.Message, mti string) (Kind, error) {
	proc, _ := m.GetString(DEProcessingCode)
	cond, _ := m.GetString(DECondition)
	switch mti {
	case MTIPurchaseResponse:
		switch proc {
		case "", ProcGoods:
			return KindPurchase, nil
		case ProcRefund:
			return KindRefund, nil
		case ProcVoid, ProcVoidRefund:
			return KindVoid, nil
		}
	case MTIAuthorizationResponse:
		switch proc {
		case "":
			return "", nil
		case ProcGoods:
			return KindPreauth, nil
		case ProcBalance:
			return KindBalance, nil
		case ProcVoid:
			return KindVoid, nil // of a pre-authorization
		}
	case MTIAdviceResponse:
		if cond == CondPreauth {
			return KindCompletion, nil
		}
		return KindAdvice, nil
	case MTISettlementResponse:
		if proc == "" || proc == ProcSettlement || proc == ProcSettlementAfterUpload {
			return KindSettlement, nil
		}
	case MTIBatchUploadResponse:
		return KindBatchUpload, nil
	default:
		return "", fmt.Errorf("%w: MTI %s", ErrUnsupported, mti)
	}
	return "", fmt.Errorf("%w: processing code %q of a %s", ErrUnsupported, proc, mti)
}
