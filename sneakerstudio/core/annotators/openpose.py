"""Body pose by OpenPose (`body_pose_model.pth`, the CMU body model as lllyasviel packaged it:
VGG-19 front, six two-branch stages giving 19 keypoint heat maps and 38 part-affinity fields).

Keypoints are the local maxima of the smoothed heat maps; each limb joins the pair of
keypoints whose line the affinity field follows; limbs sharing keypoints make a person (people
with fewer than 4 parts or a weak average are dropped), and each person is drawn as OpenPose's
coloured sticks and dots on black — the map openpose ControlNets were trained on. Hands and
faces (separate models) are not drawn."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sneakerstudio.core.annotators.common import detect_size, resized
from sneakerstudio.core.annotators.weights import load_into

WHAT = "OpenPose body"
BOX_SIZE = 368  # the network's native person height
SCALE = 0.5  # of BOX_SIZE / image height (a single scale, as A1111)
STRIDE = 8
PEAK_MIN = 0.1
PAF_MIN = 0.05
SAMPLES = 10  # points along a limb where the affinity field is read
# Limbs as 1-based keypoint pairs and their two affinity-field channels (19-based, OpenPose's).
LIMBS = (
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12),
    (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (3, 17), (6, 18),
)  # fmt: skip
PAF_CHANNELS = (
    (31, 32), (39, 40), (33, 34), (35, 36), (41, 42), (43, 44), (19, 20), (21, 22), (23, 24),
    (25, 26), (27, 28), (29, 30), (47, 48), (49, 50), (53, 54), (51, 52), (55, 56), (37, 38),
    (45, 46),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
STICK_WIDTH = 4


def _front() -> list[tuple[str, int, int, int]]:
    """(name, in, out, kernel) of the VGG front; "pool" entries are 2×2 max-pools."""
    return [
        ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("pool1_stage1", 0, 0, 0),
        ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3), ("pool2_stage1", 0, 0, 0),
        ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3),
        ("conv3_4", 256, 256, 3), ("pool3_stage1", 0, 0, 0), ("conv4_1", 256, 512, 3),
        ("conv4_2", 512, 512, 3), ("conv4_3_CPM", 512, 256, 3), ("conv4_4_CPM", 256, 128, 3),
    ]  # fmt: skip


def _stage(stage: int, branch: int) -> list[tuple[str, int, int, int]]:
    out = 38 if branch == 1 else 19
    if stage == 1:
        s = f"CPM_L{branch}"
        return [
            (f"conv5_1_{s}", 128, 128, 3), (f"conv5_2_{s}", 128, 128, 3),
            (f"conv5_3_{s}", 128, 128, 3), (f"conv5_4_{s}", 128, 512, 1),
            (f"conv5_5_{s}", 512, out, 1),
        ]  # fmt: skip
    s = f"stage{stage}_L{branch}"
    layers = [(f"Mconv1_{s}", 185, 128, 7)]
    layers += [(f"Mconv{i}_{s}", 128, 128, 7) for i in range(2, 6)]
    return [*layers, (f"Mconv6_{s}", 128, 128, 1), (f"Mconv7_{s}", 128, out, 1)]


# The published model has no ReLU after these (all stages' last layers but stage 6's heat
# maps, which keep theirs: a quirk of the original that its weights were trained with).
NO_RELU = {"conv5_5_CPM_L1", "conv5_5_CPM_L2"} | {
    f"Mconv7_stage{i}_L{b}" for i in range(2, 7) for b in (1, 2)
} - {"Mconv7_stage6_L2"}


def build(state: dict[str, Any], path: Path) -> Any:
    import torch
    from torch import nn

    def layers(spec: list[tuple[str, int, int, int]]) -> nn.Sequential:
        seq = nn.Sequential()
        for name, n_in, n_out, kernel in spec:
            if name.startswith("pool"):
                seq.add_module(name, nn.MaxPool2d(2, 2, 0))
                continue
            seq.add_module(name, nn.Conv2d(n_in, n_out, kernel, 1, kernel // 2))
            if name not in NO_RELU:
                seq.add_module(f"relu_{name}", nn.ReLU())
        return seq

    class BodyPose(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model0 = layers(_front())
            for stage in range(1, 7):
                for branch in (1, 2):
                    self.add_module(f"model{stage}_{branch}", layers(_stage(stage, branch)))

        def forward(self, x: Any) -> tuple[Any, Any]:
            front = self.model0(x)
            h = front
            for stage in range(1, 7):
                paf = getattr(self, f"model{stage}_1")(h)
                heat = getattr(self, f"model{stage}_2")(h)
                h = torch.cat([paf, heat, front], 1)
            return paf, heat

    net = BodyPose()
    if not any(k.startswith("model0.") for k in state):  # the published file's flat names
        owner = {k.split(".", 1)[1]: k for k in net.state_dict()}
        state = {owner.get(k, k): v for k, v in state.items()}
    return load_into(net, state, path, WHAT)


def maps(net: Any, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(heat maps (H, W, 19), affinity fields (H, W, 38)) at `image`'s size."""
    import torch
    from torch.nn import functional as F

    w, h = image.size
    scale = SCALE * BOX_SIZE / h
    small = image.resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC
    )
    bgr = np.asarray(small.convert("RGB"), np.float32)[:, :, ::-1]
    sh, sw = bgr.shape[:2]
    ph, pw = -sh % STRIDE, -sw % STRIDE
    padded = np.pad(bgr, ((0, ph), (0, pw), (0, 0)), constant_values=128.0)
    x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))[None] / 256 - 0.5
    with torch.inference_mode():
        paf, heat = net(x)
        out = []
        for m in (heat, paf):
            m = F.interpolate(m.float(), scale_factor=STRIDE, mode="bicubic", align_corners=False)
            m = m[:, :, :sh, :sw]
            m = F.interpolate(m, size=(h, w), mode="bicubic", align_corners=False)
            out.append(m[0].permute(1, 2, 0).numpy().astype(np.float64))
    return out[0], out[1]


def find_people(heat: np.ndarray, paf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(candidates (N, 4): x, y, score, id; people (P, 20): the candidate id of each of the
    18 keypoints or -1, the total score, the number of parts)."""
    from scipy.ndimage import gaussian_filter

    height = heat.shape[0]
    peaks: list[list[tuple[float, float, float, int]]] = []
    counter = 0
    for part in range(18):
        raw = heat[:, :, part]
        smooth = gaussian_filter(raw, sigma=3)
        pad = np.pad(smooth, 1, constant_values=0.0)
        is_peak = (
            (smooth >= pad[:-2, 1:-1])
            & (smooth >= pad[2:, 1:-1])
            & (smooth >= pad[1:-1, :-2])
            & (smooth >= pad[1:-1, 2:])
            & (smooth > PEAK_MIN)
        )
        ys, xs = np.nonzero(is_peak)  # row by row, as the original lists them
        found = [(float(x), float(y), float(raw[y, x])) for y, x in zip(ys, xs, strict=True)]
        peaks.append([(x, y, s, counter + k) for k, (x, y, s) in enumerate(found)])
        counter += len(found)
    candidates = np.array([p for part in peaks for p in part], np.float64).reshape(-1, 4)
    people = np.zeros((0, 20))
    for k, ((a, b), channels) in enumerate(zip(LIMBS, PAF_CHANNELS, strict=True)):
        cand_a, cand_b = peaks[a - 1], peaks[b - 1]
        if not cand_a or not cand_b:
            continue
        field = paf[:, :, [c - 19 for c in channels]]
        scored = []
        for i, pa in enumerate(cand_a):
            for j, pb in enumerate(cand_b):
                vec = np.subtract(pb[:2], pa[:2])
                norm = max(0.001, math.hypot(vec[0], vec[1]))
                vec = vec / norm
                xs_ = np.rint(np.linspace(pa[0], pb[0], SAMPLES)).astype(int)
                ys_ = np.rint(np.linspace(pa[1], pb[1], SAMPLES)).astype(int)
                along = field[ys_, xs_, 0] * vec[0] + field[ys_, xs_, 1] * vec[1]
                score = float(along.mean()) + min(0.5 * height / norm - 1, 0)
                if (along > PAF_MIN).sum() > 0.8 * SAMPLES and score > 0:
                    scored.append((i, j, score))
        scored.sort(key=lambda c: c[2], reverse=True)
        used_a: set[int] = set()
        used_b: set[int] = set()
        links = []
        for i, j, score in scored:
            if i not in used_a and j not in used_b:
                links.append((cand_a[i][3], cand_b[j][3], score))
                used_a.add(i)
                used_b.add(j)
                if len(links) >= min(len(cand_a), len(cand_b)):
                    break
        people = _join(people, links, a - 1, b - 1, k, candidates)
    keep = [p for p in people if p[-1] >= 4 and p[-2] / p[-1] >= 0.4]
    return candidates, np.array(keep).reshape(-1, 20)


def _join(
    people: np.ndarray, links: list[tuple[int, int, float]], ia: int, ib: int, k: int, cand: Any
) -> np.ndarray:
    """Add one limb's links to the people found so far (OpenPose's greedy assembly)."""
    for part_a, part_b, score in links:
        owners = [
            n for n in range(len(people)) if people[n][ia] == part_a or people[n][ib] == part_b
        ]
        if len(owners) == 1:
            row = people[owners[0]]
            if row[ib] != part_b:
                row[ib] = part_b
                row[-1] += 1
                row[-2] += cand[int(part_b), 2] + score
        elif len(owners) == 2:
            r1, r2 = owners
            shared = ((people[r1] >= 0).astype(int) + (people[r2] >= 0).astype(int))[:-2]
            if not np.any(shared == 2):  # two halves of one person: merge
                people[r1][:-2] += people[r2][:-2] + 1
                people[r1][-2:] += people[r2][-2:]
                people[r1][-2] += score
                people = np.delete(people, r2, 0)
            else:
                people[r1][ib] = part_b
                people[r1][-1] += 1
                people[r1][-2] += cand[int(part_b), 2] + score
        elif not owners and k < 17:
            row = -np.ones(20)
            row[ia], row[ib] = part_a, part_b
            row[-1] = 2
            row[-2] = cand[int(part_a), 2] + cand[int(part_b), 2] + score
            people = np.vstack([people, row])
    return people


def draw(size: tuple[int, int], candidates: np.ndarray, people: np.ndarray) -> Image.Image:
    """OpenPose's picture of the people: limbs as ellipses, dimmed to 60 %, then the joints."""
    sticks = Image.new("RGB", size, (0, 0, 0))
    pen = ImageDraw.Draw(sticks)
    for i in range(17):
        for person in people:
            ids = person[np.array(LIMBS[i]) - 1]
            if -1 in ids:
                continue
            (x0, y0), (x1, y1) = candidates[ids.astype(int), :2]
            length = math.hypot(x0 - x1, y0 - y1)
            angle = math.atan2(y0 - y1, x0 - x1)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            ring = [
                (
                    cx
                    + length / 2 * math.cos(t) * math.cos(angle)
                    - STICK_WIDTH * math.sin(t) * math.sin(angle),
                    cy
                    + length / 2 * math.cos(t) * math.sin(angle)
                    + STICK_WIDTH * math.sin(t) * math.cos(angle),
                )
                for t in np.linspace(0, 2 * math.pi, 72, endpoint=False)
            ]
            pen.polygon(ring, fill=COLOURS[i])
    canvas = Image.fromarray((np.asarray(sticks, np.float32) * 0.6).astype(np.uint8))
    pen = ImageDraw.Draw(canvas)
    for i in range(18):
        for person in people:
            index = int(person[i])
            if index == -1:
                continue
            x, y = (int(v) for v in candidates[index, :2])
            pen.ellipse((x - 4, y - 4, x + 4, y + 4), fill=COLOURS[i])
    return canvas


def run(net: Any, image: Image.Image, resolution: int) -> Image.Image:
    size = detect_size(image.width, image.height, resolution)
    picture = resized(image, size)
    heat, paf = maps(net, picture)
    candidates, people = find_people(heat, paf)
    return draw(size, candidates, people).resize(image.size, Image.Resampling.BILINEAR)
