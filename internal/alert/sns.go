package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// SNSPublisher is the part of *sns.Client that SNSSink uses.
type SNSPublisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSSink publishes alerts to an SNS topic: the body is the Alert's JSON, the
// Subject is Alert.Subject, and the message attributes "kind", "level" and
// (when set) "rule" let subscriptions filter without parsing the body.
type SNSSink struct {
	pub      SNSPublisher
	topicARN string
}

// NewSNSSink returns a sink publishing to topicARN through pub.
func NewSNSSink(pub SNSPublisher, topicARN string) (*SNSSink, error) {
	if pub == nil {
		return nil, errors.New("alert: SNS sink: nil publisher")
	}
	if topicARN == "" {
		return nil, errors.New("alert: SNS sink: empty topic ARN")
	}
	return &SNSSink{pub: pub, topicARN: topicARN}, nil
}

// PublishInput builds the request SNSSink sends for a.
func PublishInput(topicARN string, a Alert) (*sns.PublishInput, error) {
	if a.Count < 1 {
		a.Count = 1
	}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode %s alert %q: %w", a.Kind, a.Title, err)
	}
	attrs := map[string]snstypes.MessageAttributeValue{}
	str := func(name, v string) {
		if v != "" { // SNS rejects attributes with empty values
			attrs[name] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	str("kind", string(a.Kind))
	str("level", string(a.Level))
	str("rule", a.Rule)
	return &sns.PublishInput{
		TopicArn:          aws.String(topicARN),
		Message:           aws.String(string(body)),
		Subject:           aws.String(a.Subject()),
		MessageAttributes: attrs,
	}, nil
}

// Send publishes a.
func (s *SNSSink) Send(ctx context.Context, a Alert) error {
	in, err := PublishInput(s.topicARN, a)
	if err != nil {
		return err
	}
	if _, err := s.pub.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish %s alert %q to %s: %w", a.Kind, a.Rule, s.topicARN, err)
	}
	return nil
}
