#!/bin/sh
# fake-model.sh stands for a neural model's inference script in the tests
# of package command. It makes an MP4 of --image over --audio with ffmpeg,
# as long as --duration, at --width x --height and --fps, and prints
# progress lines and chatter as a model would.
#
# FAKE_MODE (environment) chooses how it misbehaves:
#   ok       (or unset) write the video
#   fail     print lines naming its inputs and output, exit 3
#   hang     start a child that sleeps, write both pids to FAKE_PIDS, sleep
#   none     exit 0 without writing anything
#   garbage  write text where the video should be
# FAKE_ARGV, if set, is a file it writes its arguments to, each ended by a
# NUL; FAKE_ENV, if set, one it writes its environment to.
set -eu

if [ -n "${FAKE_ARGV:-}" ]; then
  printf '%s\0' "$@" >"$FAKE_ARGV"
fi
if [ -n "${FAKE_ENV:-}" ]; then
  env >"$FAKE_ENV"
fi

image= audio= format=wav out= width=128 height=128 fps=5 duration=1
while [ $# -gt 0 ]; do
  case $1 in
    --image) image=$2; shift 2 ;;
    --audio) audio=$2; shift 2 ;;
    --audio-format) format=$2; shift 2 ;;
    --prompt | --seed) shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --width) width=$2; shift 2 ;;
    --height) height=$2; shift 2 ;;
    --fps) fps=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "fake-model: unknown argument: $1" >&2; exit 2 ;;
  esac
done

echo "loading weights for $image"
echo "progress 1/4"
case ${FAKE_MODE:-ok} in
  fail)
    echo "reading $audio" >&2
    echo "CUDA out of memory while writing $out" >&2
    exit 3 ;;
  hang)
    sleep 300 &
    echo "$$ $!" >"$FAKE_PIDS"
    sleep 300 ;;
  none)
    exit 0 ;;
  garbage)
    echo "this is not a video" >"$out"
    exit 0 ;;
esac
echo "progress 0.5"
ffmpeg -nostdin -v error -y -loop 1 -framerate "$fps" -i "$image" -f "$format" -i "$audio" -t "$duration" \
  -vf "scale=$width:$height,format=yuv420p" -c:v libx264 -preset ultrafast -c:a aac \
  -movflags +faststart -f mp4 "$out"
printf 'progress 4/4\n'
printf 'done, no newline at the end'
