"""Synthetic videos with real speech: the demo library, and the media the tests generate.

Speech comes from espeak-ng, pictures from ffmpeg's test sources (one visibly different
source per scene), muxed into H.264/AAC MP4 with ffmpeg. Each scene lasts as long as its
paragraph is spoken (plus a short pause), so scene cuts coincide with topic changes.

    python -m vtdb.demo [--config videos_config.json] [--force]

creates every configured video that is missing and is one of the demo videos below.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vtdb.errors import VtdbError

SCENE_SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={w}x{h}:rate={fps}",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.3:death_color=#202060:life_color=#e0c040",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
    "cellauto=size={w}x{h}:rate={fps}:rule=110",
    "color=c=0x2e7d32:size={w}x{h}:rate={fps}",
    "color=c=0xb71c1c:size={w}x{h}:rate={fps}",
)


@dataclass
class Scene:
    text: str  # spoken over the scene ("" = silence)
    source: str = ""  # ffmpeg lavfi source; default: a different one per scene
    seconds: float = 0.0  # minimum length (silent scenes need it)


@dataclass
class DemoVideo:
    name: str
    language: str
    voice: str
    title: str
    description: str
    scenes: list[Scene]


DEMO_VIDEOS: list[DemoVideo] = [
    DemoVideo(
        "cooking_pasta", "en", "en-us", "Cooking pasta at home", "A short cooking lesson: pasta, tomato sauce and serving.",
        [
            Scene("Today we are cooking pasta at home. Fill a large pot with water and bring it to a rolling boil. "
                  "Add a good handful of salt, because the pasta absorbs the salty water as it cooks. "
                  "Drop the spaghetti into the boiling water and stir it so the noodles do not stick together."),
            Scene("While the pasta boils, make a simple tomato sauce. Warm olive oil in a pan, add chopped garlic "
                  "and fry it gently until it smells sweet. Pour in crushed tomatoes, a pinch of sugar and fresh basil, "
                  "and let the sauce simmer for ten minutes."),
            Scene("Taste the spaghetti after eight minutes. It should be firm but not hard. Drain the pasta, "
                  "keep a cup of the cooking water, and toss everything with the sauce. Serve it on warm plates "
                  "with grated parmesan cheese on top."),
            Scene("To finish the meal, wash the pot and the pan while they are still warm. Leftover pasta keeps "
                  "for two days in the fridge. Next time you can add mushrooms, olives or fried bacon to the tomato sauce."),
        ],
    ),
    DemoVideo(
        "bicycle_repair", "en", "en-gb", "Fixing a flat bicycle tyre", "Repairing a puncture, checking the brakes and oiling the chain.",
        [
            Scene("In this video we repair a flat bicycle tyre. First turn the bike upside down and open the brake. "
                  "Remove the wheel, then use two tyre levers to lift one side of the tyre off the rim and pull out the inner tube."),
            Scene("Pump a little air into the tube and listen for the hiss to find the puncture. Roughen the rubber around "
                  "the hole with sandpaper, spread a thin layer of glue, wait one minute and press the patch firmly in place."),
            Scene("Put the tube back inside the tyre, push the tyre onto the rim with your thumbs and inflate it. "
                  "Refit the wheel, close the brake and squeeze the lever to test it. Finally put a drop of oil on every link of the chain."),
            Scene("Before every long ride check the tyre pressure with a gauge, look for cracks in the rubber and make sure "
                  "the quick release levers are tight. Carry a spare tube, a small pump and a multi tool in your saddle bag."),
        ],
    ),
    DemoVideo(
        "russian_tea", "ru", "ru", "Как заварить чай", "Урок о том, как правильно заваривать чёрный чай.",
        [
            Scene("Сегодня мы будем заваривать чёрный чай. Налейте свежую холодную воду в чайник и доведите её до кипения. "
                  "Пока вода нагревается, ополосните заварочный чайник горячей водой, чтобы он прогрелся."),
            Scene("Положите в заварочный чайник одну чайную ложку сухого чая на каждую чашку. Залейте листья кипятком "
                  "и накройте чайник полотенцем. Чай должен настояться пять минут, тогда у него будет яркий цвет и сильный аромат."),
            Scene("Разлейте чай по чашкам через ситечко. Добавьте сахар, лимон или молоко по вкусу. "
                  "К чаю хорошо подать мёд, варенье и свежие блины."),
            Scene("Зелёный чай заваривают иначе. Вода для него должна быть не кипятком, а горячей, примерно восемьдесят градусов. "
                  "Настаивайте зелёный чай не больше трёх минут, иначе он станет горьким. Хорошие листья можно заварить два или три раза."),
        ],
    ),
    DemoVideo(
        "russian_garden", "ru", "ru", "Огород весной", "Как посадить помидоры и ухаживать за ними.",
        [
            Scene("Весной мы сажаем помидоры в огороде. Выберите солнечное место и перекопайте землю лопатой. "
                  "Добавьте в каждую лунку немного компоста и золы."),
            Scene("Осторожно достаньте рассаду из горшков и посадите её глубже, чем она росла раньше. "
                  "Полейте каждое растение тёплой водой и поставьте рядом деревянную опору."),
            Scene("Летом поливайте помидоры рано утром, удаляйте лишние побеги и подвязывайте стебли к опоре. "
                  "В августе вы соберёте большой урожай красных и сладких помидоров."),
            Scene("Если листья помидоров желтеют, значит растениям не хватает питания. Подкормите их настоем крапивы "
                  "или органическим удобрением. В дождливое лето укройте грядку плёнкой, чтобы защитить урожай от болезней."),
        ],
    ),
]


class MediaToolMissing(VtdbError, RuntimeError):
    pass


def _require(tool: str) -> str:
    exe = shutil.which(tool)
    if not exe:
        raise MediaToolMissing(f"{tool} not found: install it (scripts/setup.sh installs ffmpeg and espeak-ng with apt)")
    return exe


def speak(text: str, voice: str, out_wav: Path, words_per_minute: int = 125) -> float:
    """Speak `text` into a WAV file with espeak-ng; return its duration in seconds."""
    subprocess.run([_require("espeak-ng"), "-v", voice, "-s", str(words_per_minute), "-w", str(out_wav), text],
                   check=True, capture_output=True)
    with wave.open(str(out_wav), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def make_video(
    out: Path,
    scenes: Sequence[Scene],
    voice: str = "en-us",
    size: tuple[int, int] = (854, 480),
    fps: int = 15,
    pause: float = 2.0,
    audio: bool = True,
    container_args: Sequence[str] = (),
) -> float:
    """Render scenes (picture + speech) into one video file; returns the total duration in seconds."""
    ffmpeg = _require("ffmpeg")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    with tempfile.TemporaryDirectory(prefix="vtdb-demo-") as tmp:
        inputs: list[str] = []
        filters: list[str] = []
        durations: list[float] = []
        wavs: list[Path | None] = []
        for i, scene in enumerate(scenes):
            spoken = 0.0
            wav = None
            if scene.text and audio:
                wav = Path(tmp) / f"scene{i}.wav"
                spoken = speak(scene.text, voice, wav)
            elif scene.text:
                spoken = len(scene.text.split()) / 2.5  # about 150 words per minute
            durations.append(round(max(scene.seconds, spoken + pause), 3))
            wavs.append(wav)
        for i, scene in enumerate(scenes):
            source = (scene.source or SCENE_SOURCES[i % len(SCENE_SOURCES)]).format(w=w, h=h, fps=fps)
            inputs += ["-f", "lavfi", "-t", str(durations[i]), "-i", source]
        n = len(scenes)
        if audio:
            for i, wav in enumerate(wavs):
                if wav is None:
                    inputs += ["-f", "lavfi", "-i", f"anullsrc=r=22050:cl=mono:d={durations[i]}"]
                else:
                    inputs += ["-i", str(wav)]
            for i in range(n):
                filters.append(f"[{n + i}:a]aformat=sample_rates=22050:channel_layouts=mono,apad=whole_dur={durations[i]}[a{i}]")
            pairs = "".join(f"[{i}:v][a{i}]" for i in range(n))
            filters.append(f"{pairs}concat=n={n}:v=1:a=1[v][a]")
            maps = ["-map", "[v]", "-map", "[a]", "-c:a", "aac", "-b:a", "64k"]
        else:
            filters.append("".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]")
            maps = ["-map", "[v]"]
        cmd = [ffmpeg, "-y", "-hide_banner", "-loglevel", "error", *inputs, "-filter_complex", ";".join(filters), *maps,
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p", *container_args, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
    return sum(durations)


def demo_config(video_dir: str = "demo_videos") -> dict:
    return {
        "settings": {"work_dir": "./data", "chroma_dir": "./chroma_db"},
        "videos": [
            {"name": v.name, "path": f"{video_dir}/{v.name}.mp4", "language": v.language, "title": v.title, "description": v.description}
            for v in DEMO_VIDEOS
        ],
    }


def ensure_demo_library(config_path: Path, force: bool = False, log=print) -> list[Path]:
    """Create the demo videos that the config lists and that do not exist yet."""
    config_path = Path(config_path)
    if not config_path.exists():
        config_path.write_text(json.dumps(demo_config(), indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {config_path} (demo library)")
    data = json.loads(config_path.read_text())
    by_name = {v.name: v for v in DEMO_VIDEOS}
    made: list[Path] = []
    for entry in data.get("videos", []):
        demo = by_name.get(entry.get("name"))
        path = Path(entry.get("path", ""))
        if not path.is_absolute():
            path = config_path.parent / path
        if path.exists() and not force:
            continue
        if demo is None:
            log(f"missing video {path} for {entry.get('name')!r} (not a demo video; fix the path)")
            continue
        log(f"generating demo video {path} ({demo.language}) …")
        seconds = make_video(path, demo.scenes, voice=demo.voice, pause=3.5)
        log(f"  {seconds:.0f} s")
        made.append(path)
    return made


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the demo video library (espeak-ng speech over ffmpeg scenes).")
    parser.add_argument("--config", default="videos_config.json")
    parser.add_argument("--force", action="store_true", help="regenerate videos that already exist")
    args = parser.parse_args(argv)
    try:
        ensure_demo_library(Path(args.config), force=args.force)
    except MediaToolMissing as exc:
        print(f"error: {exc}")
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc.cmd[0]} failed: {(exc.stderr or b'').decode(errors='replace')[-500:]}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
