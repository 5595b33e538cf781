// Package kumocw stands in front of kumo's CloudWatch so that datum
// timestamps reach it. kumo (v0.33.1) declares a MetricDatum's Timestamp
// a string, so the SDK's PutMetricData request, in which a timestamp is a
// CBOR epoch-time tag, fails whole ("InvalidParameterValue: Failed to
// parse request body"). Given the timestamp as RFC 3339 text, kumo stores
// it, and its GetMetricData honours StartTime and EndTime (returning the
// raw points in [StartTime, EndTime], whatever the Period and Stat).
//
// The handler rewrites each datum's Timestamp of a PutMetricData call
// into that text, sends every body uncompressed (kumo cannot read gzip
// either), and passes every other request through otherwise unchanged. The local
// stack points its functions' CloudWatch endpoint at it
// (AWS_ENDPOINT_URL_CLOUDWATCH), and tests that count into kumo point
// their client at it.
package kumocw

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// maxBody bounds a request body: PutMetricData takes at most 1 MB, and
// no other call comes near.
const maxBody = 4 << 20

// Handler returns the stand-in for kumo's CloudWatch at kumoURL. Each
// request is forwarded whole and kumo's answer read whole before it is
// written back (answers are at most a few megabytes): an answer streamed
// through httputil.ReverseProxy was now and then cut off mid-body ("use
// of closed network connection" on the way from kumo, the SDK failing
// with "unexpected EOF" on a 200) in about a third of replays.
func Handler(kumoURL string) (http.Handler, error) {
	u, err := url.Parse(kumoURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("kumocw: kumo URL %q: want scheme://host[:port]", kumoURL)
	}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		if err == nil && strings.HasSuffix(r.URL.Path, "/operation/PutMetricData") {
			body, err = Rewrite(body)
		}
		if err != nil {
			http.Error(w, "kumocw: "+err.Error(), http.StatusBadRequest)
			return
		}
		out := u.JoinPath(r.URL.Path)
		out.RawQuery = r.URL.RawQuery
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, out.String(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, "kumocw: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.Header = r.Header.Clone()
		req.Header.Del("Content-Encoding") // readBody decompressed it
		req.Header.Del("Content-Length")
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "kumocw: forward to kumo: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, "kumocw: read kumo's answer: "+err.Error(), http.StatusBadGateway)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}), nil
}

// readBody reads r's body whole, decompressed when gzip (kumo cannot read
// gzip bodies).
func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	var body io.Reader = io.LimitReader(r.Body, maxBody+1)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		body = io.LimitReader(zr, maxBody+1)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("body over %d bytes", maxBody)
	}
	return b, nil
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
