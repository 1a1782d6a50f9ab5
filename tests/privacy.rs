//! The personal-information filter: each kind is found (full-width digits too), and the
//! figures, dates, task numbers and place names that fill officers' notes are not.

use minsheng::Lang;
use minsheng::privacy::{Kind, find_personal, mask};

#[test]
fn each_kind_is_found() {
    let cases: &[(&str, Kind)] = &[
        ("张某某家 13812345678 已改造", Kind::Mobile),
        ("联系人13912345678", Kind::Mobile),
        ("电话 138 1234 5678", Kind::Mobile),
        ("电话 138-1234-5678", Kind::Mobile),
        ("+86 13812345678", Kind::Mobile),
        ("8613812345678", Kind::Mobile),
        ("张某某家 １３８１２３４５６７８ 已改造", Kind::Mobile),
        ("tel:19912345678.", Kind::Mobile),
        ("社区电话 023-68681234", Kind::Landline),
        ("社区电话 (023)68681234", Kind::Landline),
        ("社区电话（０２３）６８６８１２３４", Kind::Landline),
        ("0755 12345678", Kind::Landline),
        ("02368681234", Kind::Landline),
        ("０２３－６８６８１２３４", Kind::Landline),
        ("户主 500107199003071234 已登记", Kind::IdCard),
        ("户主11010519491231002X", Kind::IdCard),
        ("户主11010519491231002x已登记", Kind::IdCard),
        ("户主 １１０１０５１９４９１２３１００２Ｘ", Kind::IdCard),
        ("补贴打入 6222021234567890128", Kind::BankCard),
        ("卡号 6228 4800 1234 5671", Kind::BankCard),
        ("卡号６２２８４８００１２３４５６７１", Kind::BankCard),
        ("请联系 zhang.san@example.com 核实", Kind::Email),
        ("邮箱：li_si+x@mail.cq.gov.cn。", Kind::Email),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", Kind::Email),
    ];
    for (text, kind) in cases {
        assert_eq!(find_personal(text), Some(*kind), "{text}");
    }
}

#[test]
fn look_alikes_pass() {
    let cases = [
        "西永片区完工",
        "西永片区 3 处完工",
        "12.5km",
        "完成 12.5km，剩余 7.5km",
        "2024年",
        "2024年3月15日验收",
        "2024-03-15 验收",
        "20240315 验收",
        "1300个",
        "已完成1300户，2500人受益",
        "19.9 缓冲带",
        "第14项 14.1 指标",
        "地块 A-12 与 B-7",
        "地块编号 2024-0312",
        "曾家镇",
        "杨家坪",
        "张家湾社区 45 户",
        "家家户户",
        "投资 1.38 亿元",
        "共 13812 平方米",
        "138.12345678",
        "13812345678.5km",
        "户主 500107199003071235",
        "6222021234567890127",
        "100%",
        "3 5 8 12 15 20 21 22",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
        "@所有人 注意",
        "邮件@后台",
        "",
    ];
    for text in cases {
        assert_eq!(find_personal(text), None, "{text}");
    }
}

#[test]
fn masking_keeps_the_ends_and_the_rest_of_the_text() {
    let cases = [
        ("我的电话13812345678怎么报名", "我的电话138****5678怎么报名"),
        ("我的电话１３８１２３４５６７８", "我的电话138****5678"),
        ("138 1234 5678 和 02368681234", "138****5678 和 023****1234"),
        ("身份证500107199003071234", "身份证500***********1234"),
        ("卡 6222021234567890128 ok", "卡 622************0128 ok"),
        (
            "mail zhang.san@example.com please",
            "mail z***@example.com please",
        ),
        ("错时共享停车是什么", "错时共享停车是什么"),
        ("12.5km 2024年", "12.5km 2024年"),
    ];
    for (text, want) in cases {
        assert_eq!(mask(text), want, "{text}");
        assert_eq!(find_personal(&mask(text)), None, "{text}");
    }
}

#[test]
fn kinds_are_named_in_both_languages() {
    assert_eq!(Kind::Mobile.name(Lang::Zh), "手机号");
    assert_eq!(Kind::IdCard.name(Lang::Zh), "身份证号");
    assert!(Kind::BankCard.name(Lang::En).contains("bank card"));
}
