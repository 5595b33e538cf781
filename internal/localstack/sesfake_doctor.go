package localstack

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// SESWiring is one Region's SES side as sesguard doctor reads it: the
// account, the identities with their settings, and the configuration sets
// with their event destinations.
//
// The SES endpoint answers these calls itself, because kumo (v0.33.1) lacks
// them or answers them too thinly: it has no GetAccount and no
// GetConfigurationSetEventDestinations; its ListEmailIdentities answers the
// old REST path, not SDK v1.79's POST /v2/email/list-identities (the same
// for ListConfigurationSets' POST /v2/email/list-configuration-sets); its
// GetEmailIdentity has no verification status, DKIM or MAIL FROM; and its
// SES v1 has no GetIdentityNotificationAttributes (feedback forwarding and
// identity notification topics, which SES v2 cannot show).
type SESWiring struct {
	ProductionAccess, SendingEnabled bool
	EnforcementStatus                string
	Identities                       map[string]*WiredIdentity
	ConfigSets                       map[string]*WiredConfigSet
}

// WiredIdentity is one email identity's settings.
type WiredIdentity struct {
	VerificationStatus                           string // SUCCESS, PENDING, ...
	DKIMStatus                                   string
	DKIMSigning                                  bool
	MailFromDomain, MailFromStatus, MailFromOnMX string
	ConfigurationSet                             string
	BounceTopic, ComplaintTopic                  string
	ForwardingEnabled                            bool
}

// WiredConfigSet is one configuration set.
type WiredConfigSet struct {
	SendingEnabled bool
	Destinations   []WiredDestination
}

// WiredDestination is one event destination (SNS only: what sesguard uses).
type WiredDestination struct {
	Name     string
	Enabled  bool
	Types    []string // SES v2 EventType values: SEND, BOUNCE, ...
	TopicARN string
}

// SetWiring makes the endpoint answer doctor's calls in region from w (nil:
// the facts-based answers only). The caller keeps w and may change it
// between doctor runs, not during one.
func (f *SESFake) SetWiring(region string, w *SESWiring) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wiring == nil {
		f.wiring = map[string]*SESWiring{}
	}
	f.wiring[region] = w
}

func (f *SESFake) regionWiring(region string) *SESWiring {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wiring[region]
}

// serveDoctor answers the calls of SESWiring's doc when the Region has
// wiring, and reports whether it did.
func (f *SESFake) serveDoctor(w http.ResponseWriter, r *http.Request, region string, count func(string)) bool {
	sw := f.regionWiring(region)
	if sw == nil {
		return false
	}
	p := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodPost && p == "/" || r.Method == http.MethodPost && p == "":
		return f.serveV1(w, r, sw, count)
	case r.Method == http.MethodGet && p == "/v2/email/account":
		count("GetAccount")
		writeJSON(w, map[string]any{"ProductionAccessEnabled": sw.ProductionAccess, "SendingEnabled": sw.SendingEnabled,
			"EnforcementStatus": sw.EnforcementStatus, "DedicatedIpAutoWarmupEnabled": false,
			"SuppressionAttributes": map[string]any{"SuppressedReasons": []string{"BOUNCE", "COMPLAINT"}}})
	case r.Method == http.MethodPost && p == "/v2/email/list-identities":
		count("ListEmailIdentities")
		var out []map[string]any
		for _, n := range sortedKeys(sw.Identities) {
			id := sw.Identities[n]
			out = append(out, map[string]any{"IdentityName": n, "IdentityType": identityType(n), "SendingEnabled": id.VerificationStatus == "SUCCESS",
				"VerificationStatus": id.VerificationStatus})
		}
		writeJSON(w, map[string]any{"EmailIdentities": out})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v2/email/identities/"):
		count("GetEmailIdentity")
		n, _ := url.PathUnescape(strings.TrimPrefix(p, "/v2/email/identities/"))
		id, ok := sw.Identities[n]
		if !ok {
			apiError(w, http.StatusNotFound, "NotFoundException", "Email identity "+n+" does not exist.")
			return true
		}
		out := map[string]any{"IdentityType": identityType(n), "VerificationStatus": id.VerificationStatus,
			"VerifiedForSendingStatus": id.VerificationStatus == "SUCCESS", "FeedbackForwardingStatus": id.ForwardingEnabled,
			"DkimAttributes": map[string]any{"Status": id.DKIMStatus, "SigningEnabled": id.DKIMSigning, "SigningAttributesOrigin": "AWS_SES"}}
		if id.MailFromDomain != "" {
			out["MailFromAttributes"] = map[string]any{"MailFromDomain": id.MailFromDomain, "MailFromDomainStatus": id.MailFromStatus, "BehaviorOnMxFailure": id.MailFromOnMX}
		}
		if id.ConfigurationSet != "" {
			out["ConfigurationSetName"] = id.ConfigurationSet
		}
		writeJSON(w, out)
	case r.Method == http.MethodPost && p == "/v2/email/list-configuration-sets":
		count("ListConfigurationSets")
		writeJSON(w, map[string]any{"ConfigurationSets": sortedKeys(sw.ConfigSets)})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v2/email/configuration-sets/"):
		rest := strings.TrimPrefix(p, "/v2/email/configuration-sets/")
		name, sub, _ := strings.Cut(rest, "/")
		name, _ = url.PathUnescape(name)
		cs, ok := sw.ConfigSets[name]
		if !ok {
			count("GetConfigurationSet")
			apiError(w, http.StatusNotFound, "NotFoundException", "Configuration set <"+name+"> does not exist.")
			return true
		}
		switch sub {
		case "":
			count("GetConfigurationSet")
			writeJSON(w, map[string]any{"ConfigurationSetName": name, "SendingOptions": map[string]any{"SendingEnabled": cs.SendingEnabled},
				"ReputationOptions": map[string]any{"ReputationMetricsEnabled": true}})
		case "event-destinations":
			count("GetConfigurationSetEventDestinations")
			dests := []map[string]any{}
			for _, d := range cs.Destinations {
				dests = append(dests, map[string]any{"Name": d.Name, "Enabled": d.Enabled, "MatchingEventTypes": d.Types,
					"SnsDestination": map[string]any{"TopicArn": d.TopicARN}})
			}
			writeJSON(w, map[string]any{"EventDestinations": dests})
		default:
			return false
		}
	default:
		return false
	}
	return true
}

func identityType(n string) string {
	if strings.Contains(n, "@") {
		return "EMAIL_ADDRESS"
	}
	return "DOMAIN"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// serveV1 answers SES v1's query protocol: GetIdentityNotificationAttributes.
func (f *SESFake) serveV1(w http.ResponseWriter, r *http.Request, sw *SESWiring, count func(string)) bool {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "GetIdentityNotificationAttributes" {
		return false
	}
	count("GetIdentityNotificationAttributes")
	type value struct {
		BounceTopic       string `xml:"BounceTopic,omitempty"`
		ComplaintTopic    string `xml:"ComplaintTopic,omitempty"`
		ForwardingEnabled bool   `xml:"ForwardingEnabled"`
		HeadersInBounce   bool   `xml:"HeadersInBounceNotificationsEnabled"`
		HeadersInComplain bool   `xml:"HeadersInComplaintNotificationsEnabled"`
		HeadersInDelivery bool   `xml:"HeadersInDeliveryNotificationsEnabled"`
	}
	type entry struct {
		Key   string `xml:"key"`
		Value value  `xml:"value"`
	}
	type response struct {
		XMLName   xml.Name `xml:"GetIdentityNotificationAttributesResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Entries   []entry  `xml:"GetIdentityNotificationAttributesResult>NotificationAttributes>entry"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	out := response{Xmlns: "http://ses.amazonaws.com/doc/2010-12-01/", RequestID: "local"}
	for i := 1; ; i++ {
		n := r.PostForm.Get("Identities.member." + strconv.Itoa(i))
		if n == "" {
			break
		}
		if id, ok := sw.Identities[n]; ok {
			out.Entries = append(out.Entries, entry{Key: n, Value: value{BounceTopic: id.BounceTopic, ComplaintTopic: id.ComplaintTopic, ForwardingEnabled: id.ForwardingEnabled}})
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(out)
	return true
}
