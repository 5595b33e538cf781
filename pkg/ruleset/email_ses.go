package ruleset

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// errReceivedNoContent marks an SES receiving notification without the
// raw email: the receipt rule's action (S3, Lambda) did not publish it.
var errReceivedNoContent = errors.New(`SES Received notification: field "content" is missing (only a receipt rule's SNS action publishes the email; S3 and Lambda actions do not)`)

// decodeReceived decodes the email inside an SES receiving notification: a
// team that routes its Return-Path mailbox through SES receiving gets its
// bounces and complaints this way.
func decodeReceived(w *wire, source string, h hints, out []Decoded) []Decoded {
	content := []byte(*w.Content)
	if w.Receipt != nil && strings.EqualFold(w.Receipt.Action.Encoding, "BASE64") {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*w.Content))
		if err != nil {
			return append(out, Decoded{Source: source, Err: fmt.Errorf(`SES Received notification: field "content" is not Base64 (receipt action encoding BASE64): %v`, err)})
		}
		content = dec
	}
	if w.Mail != nil && h.region == "" {
		h.region = regionFromArn(w.Mail.SourceArn)
	}
	if len(content) > MaxEmailBytes {
		return append(out, Decoded{Source: source, Err: fmt.Errorf("SES Received notification: email is %d bytes; the limit is %d", len(content), MaxEmailBytes)})
	}
	if !looksLikeEmail(content) {
		return append(out, Decoded{Source: source, Err: errors.New(`SES Received notification: field "content" is not an email (no header fields)`)})
	}
	n := len(out)
	out = decodeEmail(content, source, h, out)
	for i := n; i < len(out); i++ {
		// The Region a bounce's original names is the sending Region; the
		// receiving Region is only a hint.
		if f := out[i].Failure; f != nil && f.Region == "" {
			f.Region = h.region
		}
	}
	return out
}
