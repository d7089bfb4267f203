package s3

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// List pages through ListObjectsV2 under the bucket's prefix and prefix.
// A PutObject is atomic, so nothing is ever Partial here; an upload a
// service keeps when cut short (versitygw's) is an object like any other.
func (s *Bucket) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	pages := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, interpretError(err))
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || storage.ValidateKey(key) != nil {
				continue // not one of ours: written by hand, or by another tool
			}
			if err := fn(storage.Object{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}
