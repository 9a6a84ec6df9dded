// Package paycode recognises the payment codes a customer shows the
// terminal's camera or barcode scanner, and builds and reads the EMV
// merchant-presented code the terminal shows on the customer display
// (posd issue 13). It does no I/O: reading the image (the camera, the
// gocv side, absent from -tags nocv builds) is terminal/face's and the
// drivers' business, sending the code to the platform is
// terminal/wallet's. This package only looks at the decoded text.
//
// # Customer-presented codes
//
// Classify tells the platform of a scanned text by its documented number
// range:
//
//   - WeChat Pay payment code: 18 digits starting 10 to 15 (10-14:
//     mainland users, 15: Hong Kong users); valid for one minute.
//     Source: WeChat Pay, "Important Parameters", auth_code,
//     https://pay.weixin.qq.com/wiki/doc/api/wxpay/en/guide/pos/ImportantParameters.shtml
//     (and the micropay API page https://pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=5_1,
//     as quoted by the developer notes below).
//   - Alipay payment code: 16 to 24 digits starting 25 to 30; single
//     use. Source: Alipay open platform, https://opendocs.alipay.com/open/194/106039/
//     (quoted, not read directly here, by developer notes such as
//     https://blog.csdn.net/wuqiqi1992/article/details/109045685).
//     Consistent with Alipay+'s published sample 251001020123456789012345
//     (https://global.alipay.com/docs/ac/code-scanning-payment-standards-consumer-presented-mode/cpmcodesample).
//     Alipay+ codes of other wallets (17 to 32 digits, other issuer
//     prefixes, https://docs.alipayplus.com/alipayplus/alipayplus/code_scanning_payment_standards_acq/code_format)
//     are not recognised.
//   - UnionPay QuickPass QR payment code: 19 digits starting 62. No
//     UnionPay document stating this was found in public material; the
//     rule is the one developer notes use, e.g.
//     https://cnblogs.com/zhangmo/p/13578409.html. Treat it as
//     unconfirmed; the acquirer's answer is what counts.
//   - EMV QRCPS consumer-presented mode (EMVCo "EMV QR Code Specification
//     for Payment Systems: Consumer-Presented Mode" v1.0/1.1): base64 of
//     BER-TLV, 85 "CPV01", application templates 61 (4F, 50, 57 or 5A,
//     5F24, 5F34, 9F26, 9F27, 9F10, 9F36, 82, 9F37, 9F02, 5F2A, 9F1A...,
//     possibly inside a 63 transparent template), an optional common data
//     template 62 (with 64). ParseCPM decodes it with
//     github.com/moov-io/bertlv; the tests use the two examples of the
//     specification's annex as they appear in public EMV QR libraries.
//
// The prefix ranges do not overlap. Anything else (wrong length or
// prefix, URLs, merchant-presented codes, binary, empty, over MaxText) is
// KindUnknown with a Reason that never quotes the text.
//
// # What the terminal keeps
//
// A wallet code is a bearer token for about a minute: the caller sends
// it to the platform at once and keeps only Code.Masked, the first 6
// digits, one '*' and the last 4 (the length is dropped too). An EMV
// CPM is kept as its masked PAN (redact.MaskPAN, first 6 / last 4); its
// sensitive data objects (56, 57, 5A, 5F20, 5F24, 99, 9F0B, 9F1F, 9F20,
// 9F6B) appear only masked in String, %#v, JSON and errors. CPM.Track2
// hands out the clear track 2 equivalent for the encrypted online
// request (the caller wipes it), CPM.ICC the DE55 data objects (no clear
// card data), CPM.Wipe zeroes the rest.
//
// # Merchant-presented codes
//
// BuildMPM and ParseMPM write and read the EMV QRCPS merchant-presented
// payload (EMVCo "Merchant-Presented Mode" v1.1): ID/length/value fields
// of two-digit IDs and lengths counted in characters, ending with the
// CRC-16/CCITT-FALSE (polynomial 1021, initial FFFF) of everything up to
// and including "6304", in upper-case hex. See BuildMPM for what goes
// into the merchant account information templates.
package paycode
