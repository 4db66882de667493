//! Enums whose values are fixed words in an init file (`type: nat`,
//! `format: qcow2`): the [`Keyword`] trait and the macro that defines them.

/// A value spelled as one fixed word in an init file.
pub trait Keyword: Sized + Copy + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// The spelling in init files.
    fn as_str(self) -> &'static str;

    /// The value spelled `text`, if any (exact, case-sensitive, as in Lago).
    fn from_name(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == text)
    }

    /// Every spelling, joined by `", "`, for error messages.
    fn valid_list() -> String {
        Self::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Defines a public keyword enum with `Debug`, `Clone`, `Copy`, `Eq`,
/// `Hash`, `Display` (its spelling) and [`Keyword`].
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $crate::spec::Keyword for $name {
            const ALL: &'static [Self] = &[$($name::$variant,)+];
            fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::spec::Keyword::as_str(*self))
            }
        }
    };
}

pub(crate) use keyword_enum;
