// Package kumocw stands in front of kumo's CloudWatch so that datum
// timestamps reach it. kumo (v0.33.1) declares a MetricDatum's Timestamp
// a string, so the SDK's PutMetricData request, in which a timestamp is a
// CBOR epoch-time tag, fails whole ("InvalidParameterValue: Failed to
// parse request body"). Given the timestamp as RFC 3339 text, kumo stores
// it, and its GetMetricData honours StartTime and EndTime (returning the
// raw points in [StartTime, EndTime], whatever the Period and Stat).
//
// The handler rewrites each datum's Timestamp of a PutMetricData call
// into that text, sends the body uncompressed (kumo cannot read gzip
// either), and passes every other request through unchanged. The local
// stack points its functions' CloudWatch endpoint at it
// (AWS_ENDPOINT_URL_CLOUDWATCH), and tests that count into kumo point
// their client at it.
package kumocw

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// maxBody bounds a request body read for rewriting: PutMetricData takes at
// most 1 MB.
const maxBody = 4 << 20

// Handler returns the stand-in for kumo's CloudWatch at kumoURL.
func Handler(kumoURL string) (http.Handler, error) {
	u, err := url.Parse(kumoURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("kumocw: kumo URL %q: want scheme://host[:port]", kumoURL)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/operation/PutMetricData") {
			if err := rewriteRequest(r); err != nil {
				http.Error(w, "kumocw: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}), nil
}

// rewriteRequest replaces r's body with Rewrite's.
func rewriteRequest(r *http.Request) error {
	var body io.Reader = io.LimitReader(r.Body, maxBody+1)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fmt.Errorf("PutMetricData: gzip body: %w", err)
		}
		body = io.LimitReader(zr, maxBody+1)
		r.Header.Del("Content-Encoding")
	}
	b, err := io.ReadAll(body)
	r.Body.Close()
	if err != nil {
		return fmt.Errorf("PutMetricData: read body: %w", err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("PutMetricData: body over %d bytes", maxBody)
	}
	if b, err = Rewrite(b); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// Rewrite returns a CBOR PutMetricData request body with every datum's
// Timestamp (in MetricData and in EntityMetricData's MetricData) as RFC
// 3339 text; a body without timestamps comes back as it was.
func Rewrite(body []byte) ([]byte, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("PutMetricData: decode CBOR body: %w", err)
	}
	req, ok := v.(cbor.Map)
	if !ok {
		return nil, fmt.Errorf("PutMetricData: body is a %T, want a map", v)
	}
	n, err := stampText(req["MetricData"])
	if err != nil {
		return nil, err
	}
	if ents, ok := req["EntityMetricData"].(cbor.List); ok {
		for _, e := range ents {
			if em, ok := e.(cbor.Map); ok {
				k, err := stampText(em["MetricData"])
				if err != nil {
					return nil, err
				}
				n += k
			}
		}
	}
	if n == 0 {
		return body, nil
	}
	return cbor.Encode(req), nil
}

// stampText rewrites the Timestamp of each datum of list (a CBOR list of
// maps, or nothing) and returns how many it rewrote.
func stampText(list cbor.Value) (int, error) {
	if list == nil {
		return 0, nil
	}
	data, ok := list.(cbor.List)
	if !ok {
		return 0, errors.New("PutMetricData: MetricData is not a list")
	}
	n := 0
	for i, d := range data {
		dm, ok := d.(cbor.Map)
		if !ok {
			return n, fmt.Errorf("PutMetricData: MetricData[%d] is not a map", i)
		}
		ts, ok := dm["Timestamp"]
		if !ok {
			continue
		}
		t, err := cbor.AsTime(ts)
		if err != nil {
			return n, fmt.Errorf("PutMetricData: MetricData[%d].Timestamp: %w", i, err)
		}
		dm["Timestamp"] = cbor.String(t.UTC().Format(time.RFC3339Nano))
		n++
	}
	return n, nil
}
