package ruleset

// Kind is what sort of failure an input describes.
type Kind string

// The kinds of failure. KindSendError covers errors the sending application
// reports (API or SMTP replies); plain text is read as whichever kind it
// reports (a DSN line is a bounce). KindReject is SES's asynchronous Reject
// event.
const (
	KindBounce     Kind = "bounce"
	KindComplaint  Kind = "complaint"
	KindDelay      Kind = "delay"
	KindReject     Kind = "reject"
	KindRendering  Kind = "rendering"
	KindSendError  Kind = "send-error"
	KindNotFailure Kind = "not-a-failure"
)

// AllKinds lists every Kind a rule may name.
var AllKinds = []Kind{KindBounce, KindComplaint, KindDelay, KindReject, KindRendering, KindSendError, KindNotFailure}

// Role is the part a failing identity plays in the message.
type Role string

// The roles of a failing identity.
const (
	RoleSender     Role = "sender"
	RoleRecipient  Role = "recipient"
	RoleReturnPath Role = "return-path"
	RoleUnknown    Role = "unknown"
)

// AllRoles lists every Role a rule may name.
var AllRoles = []Role{RoleSender, RoleRecipient, RoleReturnPath, RoleUnknown}

// Failure is one decoded input, normalised: Region in lower case, the
// failing identities parsed out of SES's text, each with its role.
type Failure struct {
	Kind Kind
	// AltKind is a second kind whose rules compete with Kind's, for text
	// that reads as both an SES error and a receiving server's reply (a
	// Postfix log line of a relay to SES); "" for none.
	AltKind Kind
	// FromText marks a failure read from plain text rather than a
	// structured record: when no rule matches and the text has nothing of
	// a mail failure in it, Classify refuses it as invalid input.
	FromText bool
	// lower is lowerOf lower-cased, kept by the text path that computed
	// it so that Classify does not lower-case a megabyte twice; it is used
	// only while Text is still lowerOf.
	lower, lowerOf string
	// EventType is SES's eventType/notificationType ("Bounce",
	// "Rendering Failure", ...), empty for send errors.
	EventType string
	// Text is the error text: the send error, the Reject reason, the
	// rendering error message. Bounce diagnostics are per recipient.
	Text string

	Region           string
	Transport        string // "api", "smtp" or ""
	From             string
	ReturnPath       string
	To, Cc, Bcc      []string
	SourceArn        string
	ConfigurationSet string
	Account          string
	MessageID        string
	TemplateName     string

	BounceType            string
	BounceSubType         string
	ComplaintFeedbackType string
	ComplaintSubType      string
	DelayType             string

	// Recipients are the bounced, complained or delayed recipients.
	Recipients []Recipient
	// Identities are the failing identities named by a send error.
	Identities []Identity
}

// Recipient is one recipient of a bounce, complaint or delay record.
type Recipient struct {
	Address        string
	Status         string
	Action         string
	DiagnosticCode string
}

// Identity is a failing identity and its role.
type Identity struct {
	Value string
	Role  Role
}
