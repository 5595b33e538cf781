package ruleset

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
)

// The MIME reader below is deliberately lenient: bounce emails are written
// by every MTA ever shipped, with missing closing boundaries, 8-bit bytes in
// headers, bad base64 padding and undeclared charsets. mime/multipart and
// net/textproto stop at the first such defect; a bounce must still be read.
// The standard library does the parts that are well defined (media types,
// encoded words, address parsing); golang.org/x/text the legacy charsets.

// maxEmailDepth bounds how deeply MIME entities may nest (multipart inside
// message/rfc822 inside multipart …); each level rescans at most its own
// bytes, so parsing stays linear in the input times this constant.
const maxEmailDepth = 8

// maxEmailParts bounds the entities of one email.
const maxEmailParts = 256

type hfield struct {
	name  string // lower case
	value string // unfolded, raw (encoded words not decoded)
}

type entity struct {
	hdr       []hfield
	mediaType string // lower case, "text/plain" when absent
	params    map[string]string
	body      []byte // transfer-decoded, charset untouched
	parts     []*entity
	// inner is the message of a message/rfc822 (or the headers of a
	// text/rfc822-headers) entity.
	inner *entity
}

func (e *entity) get(name string) string {
	for _, f := range e.hdr {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// parseHeader reads a header block and returns the fields and the rest of
// the input after the blank line that ends it. A line that is neither a
// field nor a continuation ends the block too (the body then starts there).
func parseHeader(b []byte) ([]hfield, []byte) {
	var fields []hfield
	for len(b) > 0 {
		line, rest := nextLine(b)
		if len(bytes.TrimRight(line, " \t")) == 0 {
			return fields, rest
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) > 0 {
				f := &fields[len(fields)-1]
				if len(f.value) < 16<<10 {
					f.value += " " + string(bytes.TrimSpace(line))
				}
			}
			b = rest
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexAny(line[:colon], " \t") >= 0 {
			if len(fields) == 0 && (bytes.HasPrefix(line, []byte("From ")) || bytes.HasPrefix(line, []byte(">From "))) {
				b = rest // an mbox From_ line
				continue
			}
			return fields, b
		}
		fields = append(fields, hfield{name: strings.ToLower(string(line[:colon])), value: string(bytes.TrimSpace(line[colon+1:]))})
		b = rest
	}
	return fields, nil
}

// nextLine returns the line without its line ending, and the rest.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

type parseBudget struct{ parts int }

func parseEntity(b []byte, depth int, budget *parseBudget) *entity {
	e := &entity{}
	budget.parts++
	var body []byte
	e.hdr, body = parseHeader(b)
	ct := e.get("content-type")
	e.mediaType = "text/plain"
	if ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			mt, params = lenientMediaType(ct)
		}
		if mt != "" {
			e.mediaType = mt
		}
		e.params = params
	}
	e.body = transferDecode(body, strings.ToLower(strings.TrimSpace(e.get("content-transfer-encoding"))))
	if depth >= maxEmailDepth || budget.parts >= maxEmailParts {
		return e
	}
	switch {
	case strings.HasPrefix(e.mediaType, "multipart/"):
		if bd := e.params["boundary"]; bd != "" {
			for _, p := range splitMultipart(e.body, bd) {
				if budget.parts >= maxEmailParts {
					break
				}
				e.parts = append(e.parts, parseEntity(p, depth+1, budget))
			}
		}
	case e.mediaType == "message/rfc822" || e.mediaType == "message/global" || e.mediaType == "message/partial":
		e.inner = parseEntity(e.body, depth+1, budget)
	case e.mediaType == "text/rfc822-headers" || e.mediaType == "message/global-headers":
		h, _ := parseHeader(e.body)
		e.inner = &entity{hdr: h, mediaType: "text/plain"}
	}
	return e
}

// lenientMediaType reads "text/plain; charset=x" when mime.ParseMediaType
// refuses it (duplicate or malformed parameters, stray characters).
func lenientMediaType(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	if !strings.Contains(mt, "/") {
		mt = ""
	}
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := params[k]; !dup {
			params[k] = strings.Trim(strings.TrimSpace(val), `"'`)
		}
	}
	return mt, params
}

// splitMultipart returns the bodies between the boundary delimiter lines.
// A missing closing delimiter ends the last part at the end of input.
func splitMultipart(b []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	pos := 0
	for pos < len(b) {
		i := bytes.Index(b[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		if i > 0 && b[i-1] != '\n' {
			pos = i + len(delim)
			continue
		}
		after := i + len(delim)
		closing := bytes.HasPrefix(b[after:], []byte("--"))
		if start >= 0 {
			end := i
			if end > start && b[end-1] == '\n' {
				end--
				if end > start && b[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, b[start:end])
		}
		if closing {
			return parts
		}
		_, rest := nextLine(b[after:])
		start = len(b) - len(rest)
		pos = start
		if rest == nil {
			start = len(b)
			break
		}
	}
	if start >= 0 && start < len(b) {
		parts = append(parts, b[start:])
	}
	return parts
}

func transferDecode(b []byte, cte string) []byte {
	switch cte {
	case "base64":
		return lenientBase64(b)
	case "quoted-printable":
		return lenientQP(b)
	}
	return b
}

// lenientBase64 decodes base64, skipping characters outside the alphabet
// and ignoring missing padding.
func lenientBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		} else if c == '=' {
			break
		}
	}
	if r := len(clean) % 4; r == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil && n == 0 {
		return b
	}
	return out[:n]
}

// lenientQP decodes quoted-printable; a malformed escape is kept as is
// (mime/quotedprintable stops at it).
func lenientQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+1 < len(b) && (b[i+1] == '\n' || b[i+1] == '\r') {
			i++
			if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		// "=" then trailing spaces and a line break: a soft break too.
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j > i+1 && (j == len(b) || b[j] == '\n' || b[j] == '\r') {
			i = j - 1
			if j < len(b) {
				i = j
				if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
					i = j + 1
				}
			}
			continue
		}
		if i+2 < len(b) && isHexDigit(b[i+1]) && isHexDigit(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		out = append(out, c)
	}
	return out
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// charsetEncoding finds a decoder for a MIME charset name.
func charsetEncoding(name string) encoding.Encoding {
	name = strings.ToLower(strings.Trim(strings.TrimSpace(name), `"'`))
	switch name {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "8bit", "7bit":
		return nil
	case "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-ms", "csiso2022jp":
		return japanese.ISO2022JP
	case "x-sjis", "sjis", "cp932", "windows-31j", "ms932":
		return japanese.ShiftJIS
	case "ks_c_5601-1987", "ks_c_5601", "cp949":
		name = "euc-kr"
	case "gb2312", "gb_2312-80", "x-gbk", "cp936":
		name = "gbk"
	}
	if enc, err := htmlindex.Get(name); err == nil {
		return enc
	}
	if enc, err := ianaindex.MIME.Encoding(name); err == nil && enc != nil {
		return enc
	}
	return nil
}

// toUTF8 converts text in a charset to valid UTF-8, never failing: bytes
// that do not decode become U+FFFD, NULs spaces. ISO-2022-JP text sent
// without a charset (Japanese carriers do) is recognised by its escapes.
func toUTF8(b []byte, charset string) string {
	enc := charsetEncoding(charset)
	if enc == nil && bytes.Contains(b, []byte("\x1b$B")) {
		enc = japanese.ISO2022JP
	}
	if enc != nil {
		if out, err := enc.NewDecoder().Bytes(b); err == nil {
			b = out
		}
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", " ")
	}
	return s
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc := charsetEncoding(charset)
	if enc == nil {
		return input, nil
	}
	return enc.NewDecoder().Reader(input), nil
}}

// decodeHeader decodes RFC 2047 encoded words; raw 8-bit header bytes are
// made valid UTF-8.
func decodeHeader(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	if !utf8.ValidString(v) {
		v = toUTF8([]byte(v), "")
	}
	return v
}

// text returns a text part's content as UTF-8; HTML is reduced to its text.
func (e *entity) text() string {
	s := toUTF8(e.body, e.params["charset"])
	if e.mediaType == "text/html" {
		s = stripHTML(s)
	}
	return s
}

// stripHTML drops tags and decodes the few entities NDRs use.
func stripHTML(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<':
			in = true
			// Block elements end a line.
			if i+3 < len(s) && (strings.EqualFold(s[i+1:i+3], "br") || strings.EqualFold(s[i+1:i+2], "p") || strings.EqualFold(s[i+1:i+3], "/p") || strings.EqualFold(s[i+1:i+4], "div") || strings.EqualFold(s[i+1:i+3], "tr")) {
				b.WriteByte('\n')
			}
		case c == '>' && in:
			in = false
		case !in:
			b.WriteByte(c)
		}
	}
	r := strings.NewReplacer("&nbsp;", " ", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'")
	return r.Replace(b.String())
}
