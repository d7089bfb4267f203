// Package s3 stores objects in an S3-compatible bucket (AWS S3, Cloudflare
// R2, MinIO, versitygw) and hands out presigned GET and PUT URLs, so neither
// downloads nor remote workers' uploads pass through the API.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// DefaultRegion is used when Config.Region is empty; it is what Cloudflare R2
// expects.
const DefaultRegion = "auto"

// MaxURLExpiry is the longest validity a SigV4 presigned URL can have.
const MaxURLExpiry = 7 * 24 * time.Hour

// Config says which bucket to use and how to reach it.
type Config struct {
	// Bucket is the bucket name; required.
	Bucket string
	// Endpoint is the service's base URL, such as
	// "https://<account>.r2.cloudflarestorage.com"; empty means AWS S3.
	Endpoint string
	// Region defaults to DefaultRegion, which suits R2; AWS S3 needs the
	// bucket's real region.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials. Leave both
	// empty to use the AWS default credential chain (environment, shared
	// files, instance role).
	AccessKeyID     string
	SecretAccessKey string
	// Prefix is put in front of every key, so several deployments can share
	// a bucket; a trailing slash is added if missing.
	Prefix string
	// ForcePathStyle addresses the bucket as <endpoint>/<bucket> rather than
	// <bucket>.<endpoint>, as MinIO and versitygw need.
	ForcePathStyle bool
}

// Bucket keeps objects in one bucket, under an optional key prefix.
type Bucket struct {
	client  *awss3.Client
	presign *awss3.PresignClient
	bucket  string
	prefix  string
	// now is the clock URLs are signed by: a presigned URL is valid from
	// its signing time for its validity.
	now func() time.Time
}

var _ storage.Storage = (*Bucket)(nil)

// New builds a client for cfg. It does not contact the service; call Ping
// for that. Checksums are only computed when an operation requires them,
// which R2 and most S3-compatible services need.
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 storage: bucket is required")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("s3 storage: access key ID and secret access key must be set together")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 storage: endpoint %q must be an absolute http(s) URL", cfg.Endpoint)
		}
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}

	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithHTTPClient(httpClient()),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load s3 client configuration: %w", err)
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.ForcePathStyle
	})

	prefix := strings.TrimLeft(cfg.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	b := &Bucket{client: client, bucket: cfg.Bucket, prefix: prefix, now: time.Now}
	b.presign = awss3.NewPresignClient(client, func(o *awss3.PresignOptions) {
		// b.now is read when signing, so that a test may set it after New.
		o.Presigner = clockedPresigner{now: func() time.Time { return b.now() }, signer: v4.NewSigner(func(so *v4.SignerOptions) {
			so.DisableURIPathEscaping = true // as the SDK's own S3 presigner: keys are escaped once
		})}
	})
	return b, nil
}

// The SDK's default client has connect and TLS handshake timeouts but
// none for an answer: a bucket that accepts a request and never answers
// would hold a worker's upload or a download until its caller's context
// ends. An answer's head must come within a minute of the request's last
// byte (however long a video took to send), and a body must not stall
// for a minute.
const (
	answerTimeout = time.Minute
	readTimeout   = time.Minute
)

// httpClient is the SDK's client with those timeouts.
func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = answerTimeout }).
		WithReadTimeout(readTimeout)
}

// Put streams r to the bucket in a single PutObject; it never holds the
// whole object in memory. size must be the exact length; a negative size is
// accepted only from an io.Seeker, whose remaining length is used. Objects
// are limited to the service's single-PUT maximum (5 GiB on S3 and R2).
//
// An io.Seeker body gets the SDK's usual treatment: over plain HTTP it is
// read twice, once to sign its SHA-256 so the service rejects anything else,
// and it is rewound to retry a failed attempt. Any other reader is sent as
// UNSIGNED-PAYLOAD, read once, with a single attempt. Content longer or
// shorter than size fails Put before the body is complete; a conforming
// service (S3, R2, MinIO) then discards the incomplete upload. versitygw
// v1.8.0 does not: it keeps the bytes it received when a plain reader fails
// midway, so pass an io.Seeker (such as an *os.File) when writing there.
func (s *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	if size < 0 {
		n, err := remainingLen(r)
		if err != nil {
			return fmt.Errorf("put %q: %w", key, err)
		}
		size = n
	}
	body := newExactReader(r, size)
	in := &awss3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          body,
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	var opts []func(*awss3.Options)
	if _, seekable := body.(io.Seeker); !seekable {
		// Hashing would need a second pass over the body, which only a
		// seeker can give.
		opts = append(opts, awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	_, err := s.client.PutObject(ctx, in, opts...)
	if err != nil {
		return fmt.Errorf("put %q: %w", key, interpretError(err))
	}
	return nil
}

// remainingLen returns how many bytes r has left, if it can tell.
func remainingLen(r io.Reader) (int64, error) {
	sk, ok := r.(io.Seeker)
	if !ok {
		return 0, errors.New("size is required unless the reader is an io.Seeker")
	}
	cur, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("find content length: %w", err)
	}
	end, err := sk.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("find content length: %w", err)
	}
	if _, err := sk.Seek(cur, io.SeekStart); err != nil {
		return 0, fmt.Errorf("find content length: %w", err)
	}
	return end - cur, nil
}

// Open returns the object's body; storage.ErrNotFound if it does not exist.
func (s *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("open %q: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", key, interpretError(err))
	}
	return out.Body, nil
}

// Delete removes the object; deleting a missing key succeeds.
func (s *Bucket) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err = interpretError(err); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// URL presigns a GetObject request valid until expires (at most
// MaxURLExpiry ahead), asking the service to send filename in
// Content-Disposition.
func (s *Bucket) URL(ctx context.Context, key string, expires time.Time, filename string) (string, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("sign URL for %q: %w", key, err)
	}
	ttl, err := s.validity(expires)
	if err != nil {
		return "", fmt.Errorf("sign URL for %q: %w", key, err)
	}
	in := &awss3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	}
	if cd := storage.ContentDisposition(filename); cd != "" {
		in.ResponseContentDisposition = aws.String(cd)
	}
	req, err := s.presign.PresignGetObject(ctx, in, awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("sign URL for %q: %w", key, err)
	}
	return req.URL, nil
}

// UploadURL presigns a PutObject request valid until expires (at most
// MaxURLExpiry ahead): whoever holds it PUTs the object's bytes with a
// Content-Length and no other header required, and the service stores them atomically (S3, R2 and
// MinIO discard an upload cut short). Another PUT to it replaces the object.
//
// maxBytes must be positive but cannot be enforced: a presigned PUT signs no
// length range (only a POST policy could), so the uploader may store any
// size up to the service's single-PUT maximum (5 GiB on S3 and R2). A
// caller that must bound the size calls Size once the upload is done and
// deletes an object that is too large. No Content-Type is signed either:
// the object keeps whatever type the uploader sends, if any.
func (s *Bucket) UploadURL(ctx context.Context, key string, expires time.Time, maxBytes int64) (string, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("sign upload URL for %q: %w", key, err)
	}
	ttl, err := s.validity(expires)
	if err != nil {
		return "", fmt.Errorf("sign upload URL for %q: %w", key, err)
	}
	if maxBytes <= 0 {
		return "", fmt.Errorf("sign upload URL for %q: maximum size %d is not positive", key, maxBytes)
	}
	req, err := s.presign.PresignPutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	}, awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("sign upload URL for %q: %w", key, err)
	}
	return req.URL, nil
}

// validity is how long a URL expiring at expires is valid from now, or an
// error when that is not within SigV4's limits.
func (s *Bucket) validity(expires time.Time) (time.Duration, error) {
	ttl := expires.Sub(s.now())
	if ttl <= 0 || ttl > MaxURLExpiry {
		return 0, fmt.Errorf("expiry must be in the future and at most %s ahead", MaxURLExpiry)
	}
	return ttl, nil
}

// clockedPresigner signs with SigV4 as of its own clock rather than the
// SDK's, so that tests can sign a URL that has already expired.
type clockedPresigner struct {
	signer *v4.Signer
	now    func() time.Time
}

func (p clockedPresigner) PresignHTTP(ctx context.Context, credentials aws.Credentials, r *http.Request,
	payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return p.signer.PresignHTTP(ctx, credentials, r, payloadHash, service, region, p.now(), optFns...)
}

// Size returns the object's length from a HeadObject request;
// storage.ErrNotFound if it does not exist.
func (s *Bucket) Size(ctx context.Context, key string) (int64, error) {
	if err := storage.ValidateKey(key); err != nil {
		return 0, fmt.Errorf("size of %q: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return 0, fmt.Errorf("size of %q: %w", key, interpretError(err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Ping checks that the bucket exists and the credentials may use it.
func (s *Bucket) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return fmt.Errorf("ping s3 bucket %q: %w", s.bucket, interpretError(err))
	}
	return nil
}
