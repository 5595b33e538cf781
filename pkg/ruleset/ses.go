package ruleset

import "time"

// SESEvent is an SES identity notification (notificationType) or
// event-publishing record (eventType), as SES publishes it to SNS.
// aws-lambda-go has no type for these (its SimpleEmailEvent is for SES
// receiving). Timestamps stay strings: one AWS sample uses a non-RFC 3339
// format, and one odd value must not fail the whole decode.
type SESEvent struct {
	NotificationType string            `json:"notificationType,omitempty"`
	EventType        string            `json:"eventType,omitempty"`
	Mail             *SESMail          `json:"mail,omitempty"`
	Bounce           *SESBounce        `json:"bounce,omitempty"`
	Complaint        *SESComplaint     `json:"complaint,omitempty"`
	Delivery         *SESDelivery      `json:"delivery,omitempty"`
	Reject           *SESReject        `json:"reject,omitempty"`
	Failure          *SESRendering     `json:"failure,omitempty"`
	DeliveryDelay    *SESDeliveryDelay `json:"deliveryDelay,omitempty"`
}

// Type returns the event type whichever producer set it.
func (e *SESEvent) Type() string {
	if e.EventType != "" {
		return e.EventType
	}
	return e.NotificationType
}

// SESMail is the mail object common to every SES record.
type SESMail struct {
	Timestamp        string              `json:"timestamp,omitempty"`
	MessageID        string              `json:"messageId,omitempty"`
	Source           string              `json:"source,omitempty"`
	SourceArn        string              `json:"sourceArn,omitempty"`
	SourceIP         string              `json:"sourceIp,omitempty"`
	SendingAccountID string              `json:"sendingAccountId,omitempty"`
	CallerIdentity   string              `json:"callerIdentity,omitempty"`
	Destination      []string            `json:"destination,omitempty"`
	CommonHeaders    *SESCommonHeaders   `json:"commonHeaders,omitempty"`
	Tags             map[string][]string `json:"tags,omitempty"`
}

// SESCommonHeaders holds the headers SES copies into the mail object.
type SESCommonHeaders struct {
	From       []string `json:"from,omitempty"`
	To         []string `json:"to,omitempty"`
	ReturnPath string   `json:"returnPath,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	MessageID  string   `json:"messageId,omitempty"`
}

// SESBounce is the bounce object.
type SESBounce struct {
	BounceType        string                `json:"bounceType,omitempty"`
	BounceSubType     string                `json:"bounceSubType,omitempty"`
	BouncedRecipients []SESBouncedRecipient `json:"bouncedRecipients,omitempty"`
	Timestamp         string                `json:"timestamp,omitempty"`
	FeedbackID        string                `json:"feedbackId,omitempty"`
	ReportingMTA      string                `json:"reportingMTA,omitempty"`
	RemoteMtaIP       string                `json:"remoteMtaIp,omitempty"`
}

// SESBouncedRecipient is one bounced recipient with its DSN fields.
type SESBouncedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// SESComplaint is the complaint object.
type SESComplaint struct {
	ComplainedRecipients  []SESAddress `json:"complainedRecipients,omitempty"`
	Timestamp             string       `json:"timestamp,omitempty"`
	FeedbackID            string       `json:"feedbackId,omitempty"`
	ComplaintSubType      string       `json:"complaintSubType,omitempty"`
	ComplaintFeedbackType string       `json:"complaintFeedbackType,omitempty"`
	UserAgent             string       `json:"userAgent,omitempty"`
	ArrivalDate           string       `json:"arrivalDate,omitempty"`
}

// SESAddress is a recipient entry that carries only an address.
type SESAddress struct {
	EmailAddress string `json:"emailAddress"`
}

// SESDelivery is the delivery object.
type SESDelivery struct {
	Timestamp  string   `json:"timestamp,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
}

// SESReject is the Reject event object; SES documents one reason, "Bad content".
type SESReject struct {
	Reason string `json:"reason,omitempty"`
}

// SESRendering is the object of a "Rendering Failure" event (key "failure").
type SESRendering struct {
	TemplateName string `json:"templateName,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// SESDeliveryDelay is the DeliveryDelay event object.
type SESDeliveryDelay struct {
	DelayType         string                `json:"delayType,omitempty"`
	DelayedRecipients []SESBouncedRecipient `json:"delayedRecipients,omitempty"`
	ExpirationTime    string                `json:"expirationTime,omitempty"`
	ReportingMTA      string                `json:"reportingMTA,omitempty"`
	Timestamp         string                `json:"timestamp,omitempty"`
}

// SES event types as they appear in eventType / notificationType.
const (
	EventBounce        = "Bounce"
	EventComplaint     = "Complaint"
	EventDelivery      = "Delivery"
	EventSend          = "Send"
	EventReject        = "Reject"
	EventOpen          = "Open"
	EventClick         = "Click"
	EventRendering     = "Rendering Failure"
	EventDeliveryDelay = "DeliveryDelay"
	EventSubscription  = "Subscription"
	// EventSNSSubscribed is the notification SES sends when a topic is
	// first attached to an identity.
	EventSNSSubscribed = "AmazonSnsSubscriptionSucceeded"
	// EventReceived is SES receiving's notification of an incoming email
	// (a receipt rule's SNS action); its "content" is the raw email.
	EventReceived = "Received"
)

// FailureEventTypes are the SES event types triage handles; the SNS filter
// policy in template.yaml passes exactly these.
var FailureEventTypes = []string{EventBounce, EventComplaint, EventReject, EventRendering, EventDeliveryDelay}

// sesTimeLayouts are the timestamp forms SES uses: RFC 3339 (fractional
// seconds optional) in every full example, and "2018-10-08T14:05:45
// +0000" in one sample of the mail object (ses-facts.md §1.2).
var sesTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05 -0700"}

// ParseSESTime parses a timestamp of an SES event (mail.timestamp,
// bounce.timestamp, ...) in any form SES uses; ok is false for anything
// else, the empty string included.
func ParseSESTime(s string) (t time.Time, ok bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range sesTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
