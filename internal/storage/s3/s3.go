// Package s3 stores objects in an S3-compatible bucket (AWS S3, Cloudflare
// R2, MinIO, versitygw) and hands out presigned GET URLs, so downloads never
// pass through the API.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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
	return &Bucket{
		client:  client,
		presign: awss3.NewPresignClient(client),
		bucket:  cfg.Bucket,
		prefix:  prefix,
	}, nil
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
	ttl := time.Until(expires)
	if ttl <= 0 || ttl > MaxURLExpiry {
		return "", fmt.Errorf("sign URL for %q: expiry must be in the future and at most %s ahead", key, MaxURLExpiry)
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

// Ping checks that the bucket exists and the credentials may use it.
func (s *Bucket) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return fmt.Errorf("ping s3 bucket %q: %w", s.bucket, interpretError(err))
	}
	return nil
}
