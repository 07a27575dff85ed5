"""Chinese names for the synthetic sample: streets, compounds, communities (internal).

Every function draws from a ``numpy.random.Generator`` it is given, so names are reproducible.
"""
from __future__ import annotations

import numpy as np

__all__ = ["NameBook"]

ARTERIALS = (
    "中山", "新华", "人民", "建设", "解放", "和平", "长江", "北京", "汉中", "中央", "广州", "上海", "珠江",
    "龙江", "清凉", "草场", "汉口", "云南", "湖南", "江苏", "宁海", "集庆", "升州", "大光", "太平", "洪武",
    "中华", "水西", "瑞金", "御道", "光华", "后标", "北安", "定淮", "模范", "黄埔", "常府", "丰富", "虎踞",
    "龙蟠", "凤台", "应天", "文昌", "秦虹", "长白", "白下", "玄武", "鼓楼", "建邺", "栖霞",
)
TRUNKS = ("应天大街", "龙蟠路", "江东路", "纬七路", "内环西线", "凤台南路", "卡子门大街", "宁溧路")
RIVERS = ("秦淮河", "金川河", "外秦淮河", "运粮河")
RAILWAYS = ("宁芜铁路", "沪宁铁路")
LOCAL = (
    "石鼓", "莫愁", "估衣", "文德", "砂珠", "双塘", "钓鱼台", "膺福", "糖坊", "箍桶", "评事", "木匠营", "仓巷",
    "朝天", "鸣羊", "绒庄", "大板", "小板", "金沙", "牌楼", "颜料坊", "殷高", "长乐", "饮马", "钞库", "船板",
    "三茅", "半山", "百花", "四条", "红花", "青石", "竹竿", "堂子", "丁家", "王府", "剪子", "糯米", "芝麻",
    "罗廊巷", "鞍辔", "油坊", "柳叶", "杨公井", "陶谷", "吉兆", "锏银", "升平", "马道", "慧园", "明瓦廊", "螺丝",
    "羊皮", "豆菜", "珍珠", "香铺", "仙鹤", "止马营", "来凤", "渔市", "杏花", "桃叶", "荷花", "枫林", "银杏",
)
LOCAL_SUFFIX = ("路", "街", "巷")
COMPOUND_PREFIX = (
    "金陵", "阳光", "幸福", "锦绣", "翠苑", "龙江", "清江", "华侨", "凤凰", "颐和", "山水", "银城", "月光",
    "明月", "天润", "怡景", "富丽", "东方", "紫金", "秦淮", "碧水", "南湖", "梅园", "兰园", "桂花", "香山",
    "春江", "文苑", "丽景", "康乐", "长江", "金鼎", "嘉禾", "瑞华", "泰和", "万科", "融侨", "江南", "润泽", "新城",
)
COMPOUND_SUFFIX = ("花园", "小区", "新村", "苑", "家园", "公寓", "名邸", "佳园", "雅居", "华庭")
COMMUNITY = (
    "新华", "和平", "人民", "建设", "解放", "长江", "中山", "鼓楼", "梅园", "兰园", "锁金", "红山", "后宰门",
    "珠江", "成贤", "丹凤", "进香河", "东南", "花园", "文昌", "龙蟠", "樱驼", "百子亭", "台城", "太平", "卫岗",
    "双塘", "朝天宫", "五老村", "夫子庙", "止马营", "钓鱼台", "评事街", "船板巷", "安品街", "秦虹", "瑞金",
    "光华", "石门坎", "大光路", "月牙湖", "苜蓿园", "孝陵卫", "钟山", "清凉", "虎踞", "汉中门", "莫愁湖",
)
STREETS = ("新街口", "梅园新村", "玄武门", "锁金村", "红山", "孝陵卫", "夫子庙", "朝天宫", "五老村", "双塘")
NUMERALS = "一二三四五六七八九十"
NONRES = {"school": "小学", "kindergarten": "幼儿园", "retail": "商场", "office": "大厦", "hospital": "医院"}


def _numeral(k: int) -> str:
    return NUMERALS[k - 1] if 1 <= k <= 10 else str(k)


class NameBook:
    """Hands out names without repeats (while the pools last), reproducibly from ``rng``."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._used: set[str] = set()
        self._arterials = [ARTERIALS[i] for i in rng.permutation(len(ARTERIALS))]

    def _unique(self, name: str, more) -> str:
        k = 1
        out = name
        while out in self._used:
            k += 1
            out = more(k)
        self._used.add(out)
        return out

    def arterial(self, i: int, *, axis: str) -> str:
        """The ``i``-th arterial of an axis ('ns' or 'ew'): 中山路, then 中山北路 … when the pool runs out."""
        pool = self._arterials
        base = pool[(2 * i + (axis == "ew")) % len(pool)]
        turn = (2 * i + (axis == "ew")) // len(pool)
        mods = ("", "北", "南", "东", "西", "中")
        name = f"{base}{mods[turn % len(mods)]}{'路' if turn < len(mods) else _numeral(turn) + '路'}"
        return self._unique(name, lambda k: f"{base}{_numeral(k)}路")

    def local(self) -> str:
        """A local street: 石鼓路, 评事街, 仓巷 … (repeats allowed once the pool is spent)."""
        word = LOCAL[self.rng.integers(len(LOCAL))]
        suffix = LOCAL_SUFFIX[self.rng.integers(len(LOCAL_SUFFIX))]
        return word if word.endswith(("营", "廊", "巷", "坊", "井", "台")) else word + suffix

    def compound(self) -> str:
        """A compound (小区) name such as 金陵花园; 金陵花园二期 once that is taken."""
        p = COMPOUND_PREFIX[self.rng.integers(len(COMPOUND_PREFIX))]
        s = COMPOUND_SUFFIX[self.rng.integers(len(COMPOUND_SUFFIX))]
        return self._unique(p + s, lambda k: f"{p}{s}{_numeral(k)}期")

    def community(self, i: int) -> str:
        """The ``i``-th community name: 新华社区 …, then 新华二社区 …"""
        base = COMMUNITY[i % len(COMMUNITY)]
        turn = i // len(COMMUNITY)
        return self._unique(f"{base}{_numeral(turn + 1) if turn else ''}社区", lambda k: f"{base}{_numeral(k)}社区")

    @staticmethod
    def pick(pool: tuple[str, ...], i: int) -> str:
        """``pool[i]``, numbered when ``i`` runs past the pool (应天大街, …, 应天大街二)."""
        turn = i // len(pool)
        return pool[i % len(pool)] + (_numeral(turn + 1) if turn else "")
