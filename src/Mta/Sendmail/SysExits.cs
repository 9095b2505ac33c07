// The exit codes of sendmail(1) and its callers' expectations: sysexits.h.
namespace Mta.Sendmail;

/// <summary>sysexits.h, the codes cron, mailx and PHP read from sendmail.</summary>
public static class SysExits
{
    public const int Ok = 0;
    public const int Usage = 64;
    public const int DataError = 65;
    public const int NoUser = 67;
    public const int Unavailable = 69;
    public const int Software = 70;
    public const int OsError = 71;
    public const int CantCreate = 73;
    public const int IoError = 74;
    public const int TempFail = 75;
    public const int NoPermission = 77;
    public const int Config = 78;
}
