#!/usr/bin/env bash
# ansible-test needs the collection in a real ansible_collections/<ns>/<name> directory (not a
# link): copy the tracked files there and run sanity with no ignore file.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
build=${BUILD_DIR:?set BUILD_DIR to a build folder of this checkout (make sanity does)}
dest="$build/ansible_collections/runnerops/gitlab"

# ansible-test bootstraps pip from a download; give it the offline stand-in for the pip it wants.
pip_version=$("$python" - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(python_requirements.get_venv_packages)).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp "$here/.ci/get_pip_offline.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"

rm -rf "$dest"
mkdir -p "$dest"
(cd "$here" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$dest/")
cd "$dest"
git init -q . && git add -A >/dev/null
"$(dirname "$python")/ansible-test" sanity --local --python "$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no "$@"
