#!/bin/sh
# Add Sneaker Studio to the desktop's application menu, for this user only (no root needed).
#   sh install-desktop-entry.sh /path/to/SneakerStudio        (the bundle folder)
#   sh install-desktop-entry.sh --uninstall
# Writes ~/.local/share/applications/sneakerstudio.desktop and the icons under
# ~/.local/share/icons/hicolor/. A pip install can use it too: pass the folder that holds the
# `sneakerstudio-gui` script (e.g. .venv/bin); the entry then runs that script.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$APPS/sneakerstudio.desktop"
  for size in 16 32 48 64 128 256 512; do
    rm -f "$ICONS/${size}x${size}/apps/sneakerstudio.png"
  done
  rm -f "$ICONS/scalable/apps/sneakerstudio.svg"
  echo "Removed the Sneaker Studio menu entry."
  exit 0
fi

TARGET=$(cd "${1:?give the bundle folder (the one holding SneakerStudio)}" && pwd)
if [ -x "$TARGET/SneakerStudio" ]; then
  EXEC="$TARGET/SneakerStudio"
elif [ -x "$TARGET/sneakerstudio-gui" ]; then
  EXEC="$TARGET/sneakerstudio-gui"
else
  echo "No SneakerStudio or sneakerstudio-gui program in $TARGET" >&2
  exit 1
fi
# The icons: beside this script in the bundle (icons/), or in the source tree (../icons/).
for candidate in "$HERE/icons" "$HERE/../icons"; do
  [ -f "$candidate/sneakerstudio.svg" ] && SRC_ICONS=$candidate && break
done

mkdir -p "$APPS" "$ICONS/scalable/apps"
for size in 16 32 48 64 128 256 512; do
  if [ -f "${SRC_ICONS:-}/sneakerstudio-$size.png" ]; then
    mkdir -p "$ICONS/${size}x${size}/apps"
    cp "$SRC_ICONS/sneakerstudio-$size.png" "$ICONS/${size}x${size}/apps/sneakerstudio.png"
  fi
done
[ -n "${SRC_ICONS:-}" ] && cp "$SRC_ICONS/sneakerstudio.svg" "$ICONS/scalable/apps/sneakerstudio.svg"
# The entry, with the program's full path (quoted: the folder may have spaces).
sed -e "s|^Exec=.*|Exec=\"$EXEC\"|" -e "s|^TryExec=.*|TryExec=$EXEC|" \
  "$HERE/sneakerstudio.desktop" > "$APPS/sneakerstudio.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q "$ICONS" || true
echo "Added Sneaker Studio to the application menu ($APPS/sneakerstudio.desktop)."
